import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentInstitution, RequireScopes } from '../auth/auth.decorators.js';
import type { InstitutionPrincipal } from '../auth/principal.js';
import { notFound } from '../common/errors/domain-error.js';
import { isUuid } from '../common/ids.js';
import { ApiProblems } from '../common/openapi/api-problems.decorator.js';
import { ListWebhookDeliveriesQuery, WebhookDeliveryListView, WebhookDeliveryView } from './dto/webhook-delivery.dto.js';
import { WebhookDeliveriesRepository } from './webhook-deliveries.repository.js';

const DEFAULT_LIMIT = 20;

/** What was sent to the caller's webhook and how each attempt went; the caller's own only. */
@ApiTags('webhooks')
@ApiBearerAuth()
@Controller('v1/webhook-deliveries')
export class WebhookDeliveriesController {
  constructor(private readonly deliveries: WebhookDeliveriesRepository) {}

  @Get()
  @RequireScopes('inquiries:read')
  @ApiOperation({ summary: "The institution's recent webhook deliveries, newest first, with their attempts" })
  @ApiOkResponse({ type: WebhookDeliveryListView })
  @ApiProblems('UNAUTHENTICATED', 'FORBIDDEN_SCOPE', 'VALIDATION_FAILED')
  async list(
    @Query() query: ListWebhookDeliveriesQuery,
    @CurrentInstitution() caller: InstitutionPrincipal,
  ): Promise<WebhookDeliveryListView> {
    return {
      items: await this.deliveries.listForInstitution(caller.institutionId, {
        status: query.status,
        limit: query.limit ?? DEFAULT_LIMIT,
      }),
    };
  }

  @Get(':id')
  @RequireScopes('inquiries:read')
  @ApiOperation({ summary: 'One webhook delivery with its attempts' })
  @ApiOkResponse({ type: WebhookDeliveryView })
  @ApiProblems('UNAUTHENTICATED', 'FORBIDDEN_SCOPE', 'NOT_FOUND')
  async get(@Param('id') id: string, @CurrentInstitution() caller: InstitutionPrincipal): Promise<WebhookDeliveryView> {
    const delivery = isUuid(id) ? await this.deliveries.findForInstitution(caller.institutionId, id) : undefined;
    if (!delivery) throw notFound('Webhook delivery');
    return delivery;
  }
}
