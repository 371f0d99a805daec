import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsIn, IsInt, IsOptional, Max, Min } from 'class-validator';
import { DELIVERY_STATUSES, type DeliveryStatus } from '../webhook-deliveries.repository.js';

export class ListWebhookDeliveriesQuery {
  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 20 })
  @IsOptional()
  @Transform(({ value }) => (value === undefined || value === '' ? undefined : Number(value)))
  @IsInt()
  @Min(1)
  @Max(100)
  limit?: number;

  @ApiPropertyOptional({ enum: DELIVERY_STATUSES })
  @IsOptional()
  @IsIn(DELIVERY_STATUSES)
  status?: DeliveryStatus;
}

export class WebhookAttemptView {
  @ApiProperty({ example: 1 })
  attempt: number;

  @ApiProperty({ description: 'Where this attempt was sent' })
  url: string;

  @ApiProperty({ type: String, format: 'date-time' })
  startedAt: string;

  @ApiProperty({ nullable: true, type: Number, description: 'Null while the attempt is in flight' })
  durationMs: number | null;

  @ApiProperty({ nullable: true, type: Number, description: "The receiver's HTTP status, if it answered" })
  statusCode: number | null;

  @ApiProperty({ nullable: true, type: String, example: 'HTTP 500', description: 'Why the attempt failed; never the response body' })
  error: string | null;
}

export class WebhookDeliveryView {
  @ApiProperty({ format: 'uuid', description: 'Also the `webhook-id` header, the same on every attempt' })
  id: string;

  @ApiProperty({ example: 'inquiry.completed' })
  eventType: string;

  @ApiProperty({
    description: 'The JSON body sent: `{type, timestamp, data}`',
    example: { type: 'inquiry.completed', timestamp: '2026-04-01T01:15:00.000Z', data: { inquiryId: '…', kind: 'inheritance', status: 'completed' } },
  })
  payload: Record<string, unknown>;

  @ApiProperty({ description: 'Where the latest attempt went' })
  url: string;

  @ApiProperty({ enum: DELIVERY_STATUSES })
  status: DeliveryStatus;

  @ApiProperty()
  attemptCount: number;

  @ApiProperty({ nullable: true, type: Date, description: 'While pending: when the next attempt is due' })
  nextAttemptAt: Date | null;

  @ApiProperty({ nullable: true, type: Date })
  lastAttemptAt: Date | null;

  @ApiProperty({ nullable: true, type: Number })
  lastStatusCode: number | null;

  @ApiProperty({ nullable: true, type: String })
  lastError: string | null;

  @ApiProperty()
  createdAt: Date;

  @ApiProperty({ nullable: true, type: Date })
  deliveredAt: Date | null;

  @ApiProperty({ type: [WebhookAttemptView] })
  attempts: WebhookAttemptView[];
}

export class WebhookDeliveryListView {
  @ApiProperty({ type: [WebhookDeliveryView] })
  items: WebhookDeliveryView[];
}
