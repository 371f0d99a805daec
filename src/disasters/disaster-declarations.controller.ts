import { Body, Controller, Get, Param, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { auditActor } from '../audit/audit-actor.js';
import { CurrentPrincipal, RequireScopes } from '../auth/auth.decorators.js';
import type { Principal } from '../auth/principal.js';
import { ApiProblems } from '../common/openapi/api-problems.decorator.js';
import { DisasterDeclarationsService } from './disaster-declarations.service.js';
import {
  CreateDisasterDeclarationDto,
  DisasterDeclarationDto,
  DisasterDeclarationListDto,
} from './dto/disaster-declaration.dto.js';

@ApiTags('disaster declarations (operator)')
@ApiBearerAuth()
@Controller('v1/disaster-declarations')
export class DisasterDeclarationsController {
  constructor(private readonly declarations: DisasterDeclarationsService) {}

  @Post()
  @RequireScopes('admin:disasters')
  @ApiOperation({
    summary: 'Declare where the Disaster Relief Act applies',
    description: 'Disaster inquiries are accepted for depositors living in these municipalities while the declaration is in force.',
  })
  @ApiCreatedResponse({ type: DisasterDeclarationDto })
  @ApiProblems('UNAUTHENTICATED', 'FORBIDDEN_SCOPE', 'VALIDATION_FAILED', 'MALFORMED_JSON')
  create(
    @Body() dto: CreateDisasterDeclarationDto,
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
  ): Promise<DisasterDeclarationDto> {
    return this.declarations.create(dto, auditActor(principal, request));
  }

  @Get()
  @RequireScopes('admin:disasters')
  @ApiOperation({ summary: 'List disaster declarations, newest first' })
  @ApiOkResponse({ type: DisasterDeclarationListDto })
  @ApiProblems('UNAUTHENTICATED', 'FORBIDDEN_SCOPE')
  async list(): Promise<DisasterDeclarationListDto> {
    return { items: await this.declarations.list() };
  }

  @Get(':id')
  @RequireScopes('admin:disasters')
  @ApiOperation({ summary: 'Read a disaster declaration' })
  @ApiOkResponse({ type: DisasterDeclarationDto })
  @ApiProblems('UNAUTHENTICATED', 'FORBIDDEN_SCOPE', 'NOT_FOUND')
  get(@Param('id') id: string): Promise<DisasterDeclarationDto> {
    return this.declarations.get(id);
  }
}
