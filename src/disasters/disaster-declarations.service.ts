import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { AuditActor } from '../audit/audit-event.js';
import { AuditService } from '../audit/audit.service.js';
import { notFound, ValidationFailed } from '../common/errors/domain-error.js';
import { isUuid } from '../common/ids.js';
import { normalizeMunicipalityCode } from '../common/municipality/municipality-code.js';
import { DisasterDeclarationsRepository } from './disaster-declarations.repository.js';
import type { CreateDisasterDeclarationDto, DisasterDeclarationDto } from './dto/disaster-declaration.dto.js';

@Injectable()
export class DisasterDeclarationsService {
  constructor(
    private readonly db: DataSource,
    private readonly declarations: DisasterDeclarationsRepository,
    private readonly audit: AuditService,
  ) {}

  create(dto: CreateDisasterDeclarationDto, actor: AuditActor): Promise<DisasterDeclarationDto> {
    if (Date.parse(dto.endsAt) <= Date.parse(dto.startsAt)) {
      throw new ValidationFailed([{ path: 'endsAt', code: 'INVALID_VALUE', message: 'endsAt must be after startsAt' }]);
    }
    const codes = dto.municipalityCodes.map((code) => normalizeMunicipalityCode(code) as string);
    if (new Set(codes).size !== codes.length) {
      throw new ValidationFailed([
        { path: 'municipalityCodes', code: 'DUPLICATE', message: 'municipalityCodes must not name a municipality twice' },
      ]);
    }
    return this.db.transaction(async (tx) => {
      const declaration = await this.declarations.insert(tx, {
        id: randomUUID(),
        name: dto.name,
        municipalityCodes: codes,
        startsAt: dto.startsAt,
        endsAt: dto.endsAt,
      });
      await this.audit.record(tx, actor, {
        action: 'disaster-declaration.create',
        resourceType: 'disaster-declaration',
        resourceId: declaration.id,
        details: { municipalities: codes.length },
      });
      return declaration;
    });
  }

  list(): Promise<DisasterDeclarationDto[]> {
    return this.declarations.list();
  }

  async get(id: string): Promise<DisasterDeclarationDto> {
    const declaration = isUuid(id) ? await this.declarations.find(id) : undefined;
    if (!declaration) throw notFound('Disaster declaration');
    return declaration;
  }
}
