import { ApiProperty } from '@nestjs/swagger';
import { IsInt, Max, Min } from 'class-validator';

export class SetRateLimitDto {
  @ApiProperty({ example: 3000, description: 'Requests per minute per API key of the institution (steady rate); 0 = not limited' })
  @IsInt()
  @Min(0)
  @Max(1_000_000)
  requestsPerMinute: number;

  @ApiProperty({ example: 300, description: 'Requests a key may send at once above the steady rate' })
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  burst: number;
}

export class RateLimitDto {
  @ApiProperty({ example: '0005' })
  institutionCode: string;

  @ApiProperty({ example: 3000 })
  requestsPerMinute: number;

  @ApiProperty({ example: 300 })
  burst: number;

  @ApiProperty({ enum: ['institution', 'default'], description: "`institution`: set for this institution; `default`: the configured defaults" })
  source: 'institution' | 'default';
}
