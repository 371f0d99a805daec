import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayUnique,
  IsArray,
  IsDefined,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  IsUrl,
  Length,
  Matches,
  Max,
  MaxLength,
  Min,
  registerDecorator,
  ValidateNested,
} from 'class-validator';
import { HasNoMyNumber, withCode } from '../../common/validation/validators.js';
import { ENCRYPTION_CURVE, isPublicOkpJwk, NODE_ID_PATTERN, SIGNING_CURVE } from '../envelope.js';
import { INSTITUTION_CODE_PATTERN } from '../peer-messages.js';

/** Institutions a single peer node may front (a shared-system centre hosts hundreds). */
export const MAX_PEER_INSTITUTIONS = 2000;

/** A public OKP JWK of the given curve: `{kty: "OKP", crv, x}` with a 32-byte x and no `d`. */
function IsPublicOkpJwk(crv: typeof SIGNING_CURVE | typeof ENCRYPTION_CURVE): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isPublicOkpJwk',
      target: target.constructor,
      propertyName: String(propertyName),
      options: {
        message: `$property must be a public JWK {kty: "OKP", crv: "${crv}", x} (32-byte x, no "d")`,
        ...withCode('INVALID_VALUE'),
      },
      validator: { validate: (value: unknown) => isPublicOkpJwk(value, crv) },
    });
}

const JWK_EXAMPLE = (crv: string) => ({ kty: 'OKP', crv, x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' });

export class PublicJwkDto {
  @ApiProperty({ example: 'OKP' })
  kty: string;

  @ApiProperty({ example: 'Ed25519' })
  crv: string;

  @ApiProperty({ description: 'The public key, 32 bytes base64url' })
  x: string;
}

export class PeerInstitutionDto {
  @ApiProperty({ example: '0009', description: 'Zengin institution code, 4 digits' })
  @IsString(withCode('INVALID_TYPE'))
  @Matches(INSTITUTION_CODE_PATTERN, { message: 'code must be 4 digits (Zengin institution code)' })
  code: string;

  @ApiProperty({ example: '三井住友銀行' })
  @IsString(withCode('INVALID_TYPE'))
  @Length(1, 200)
  @HasNoMyNumber()
  name: string;
}

/** The largest per-peer inbound quota that can be set (queries per minute). */
export const MAX_PEER_QUERIES_PER_MINUTE = 10_000_000;

/** Current keys and previous signing keys: more than this is not a key rotation. */
export const MAX_PUBLISHED_KEYS = 12;

export class RegisterPeerDto {
  @ApiProperty({ example: 'kouza-hub.shinkin-centre.example', description: 'The peer\'s NODE_ID, as its GET /v1/node shows' })
  @IsString(withCode('INVALID_TYPE'))
  @Matches(NODE_ID_PATTERN, { message: 'nodeId must be 1-64 of A-Z a-z 0-9 . _ -' })
  nodeId: string;

  @ApiProperty({
    example: 'https://kouza-hub.shinkin-centre.example',
    description: 'Base URL: queries go to {endpointUrl}/v1/peer/location-queries',
  })
  @IsString(withCode('INVALID_TYPE'))
  @MaxLength(2000)
  @IsUrl({ require_protocol: true, protocols: ['https', 'http'], require_tld: false })
  @Matches(/^[^?#]*$/, { message: 'endpointUrl must be a base URL, without query or fragment' })
  endpointUrl: string;

  @ApiProperty({ type: PublicJwkDto, example: JWK_EXAMPLE(SIGNING_CURVE) })
  @IsDefined()
  @IsPublicOkpJwk(SIGNING_CURVE)
  signingKey: Record<string, unknown>;

  @ApiProperty({ type: PublicJwkDto, example: JWK_EXAMPLE(ENCRYPTION_CURVE) })
  @IsDefined()
  @IsPublicOkpJwk(ENCRYPTION_CURVE)
  encryptionKey: Record<string, unknown>;

  @ApiProperty({ type: [PeerInstitutionDto], maxItems: MAX_PEER_INSTITUTIONS })
  @IsArray()
  @ArrayMaxSize(MAX_PEER_INSTITUTIONS)
  @ArrayUnique((i: PeerInstitutionDto) => (i && typeof i === 'object' ? i.code : i), {
    message: 'institutions must not list the same code twice',
  })
  @ValidateNested({ each: true })
  @Type(() => PeerInstitutionDto)
  institutions: PeerInstitutionDto[];

  @ApiPropertyOptional({
    type: () => NodeKeyDto,
    isArray: true,
    description:
      "As the peer's GET /v1/node shows them (the whole answer can be sent as it is): its previous signing keys are " +
      'accepted until their notAfter; the rest is read from signingKey and encryptionKey. Absent: what was stored is kept',
  })
  @IsOptional()
  @IsArray(withCode('INVALID_TYPE'))
  @ArrayMaxSize(MAX_PUBLISHED_KEYS)
  keys?: unknown[];

  @ApiPropertyOptional({
    type: () => KeyStatementDto,
    description:
      "As the peer's GET /v1/node shows it (so that its whole answer can be sent as it is); not needed: registering is " +
      "the operator's own say-so on the keys",
  })
  @IsOptional()
  @IsObject(withCode('INVALID_TYPE'))
  keyStatement?: Record<string, unknown>;

  @ApiPropertyOptional({
    type: Number,
    nullable: true,
    minimum: 0,
    maximum: MAX_PEER_QUERIES_PER_MINUTE,
    example: 6000,
    description:
      'Inbound quota: queries (and numbering notices) per minute this peer may send, counted per query, not per ' +
      'message; 0 = not limited; null = the default (PEER_QUERIES_PER_MINUTE). Absent: what was stored is kept',
  })
  @IsOptional()
  @IsInt(withCode('INVALID_TYPE'))
  @Min(0, withCode('INVALID_VALUE'))
  @Max(MAX_PEER_QUERIES_PER_MINUTE, withCode('INVALID_VALUE'))
  queriesPerMinute?: number | null;
}

export class PeerNodeIdParams {
  @IsString()
  @Matches(NODE_ID_PATTERN, { message: 'nodeId must be 1-64 of A-Z a-z 0-9 . _ -' })
  nodeId: string;
}

export class PeerDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty()
  nodeId: string;

  @ApiProperty()
  endpointUrl: string;

  @ApiProperty({ type: PublicJwkDto })
  signingKey: PublicJwkDto;

  @ApiProperty({ type: PublicJwkDto })
  encryptionKey: PublicJwkDto;

  @ApiProperty({ type: [PeerInstitutionDto] })
  institutions: PeerInstitutionDto[];

  @ApiProperty()
  createdAt: Date;

  @ApiProperty()
  updatedAt: Date;

  @ApiProperty({ nullable: true, type: Date, description: 'Set when disabled: no message is sent to or accepted from it' })
  disabledAt: Date | null;

  @ApiProperty({
    type: () => [PreviousSigningKeyDto],
    description: "Signing keys the peer rotated away from, accepted until their notAfter (learned from its GET /v1/node)",
  })
  previousSigningKeys: PreviousSigningKeyDto[];

  @ApiProperty({ nullable: true, type: Date, description: "When the peer's keys were last fetched from its GET /v1/node" })
  keysRefreshedAt: Date | null;

  @ApiProperty({
    nullable: true,
    type: Number,
    description: "This peer's own inbound quota (queries per minute, 0 = not limited); null: the default PEER_QUERIES_PER_MINUTE",
  })
  queriesPerMinute: number | null;
}

export class PreviousSigningKeyDto extends PublicJwkDto {
  @ApiProperty({ format: 'date-time' })
  notAfter: string;
}

export class NodeKeyDto extends PublicJwkDto {
  @ApiProperty({ description: 'RFC 7638 thumbprint (SHA-256): the JWS `skid` / JWE `kid` naming this key' })
  kid: string;

  @ApiProperty({ enum: ['sig', 'enc'] })
  use: 'sig' | 'enc';

  @ApiProperty({ enum: ['current', 'previous'] })
  status: 'current' | 'previous';

  @ApiPropertyOptional({ format: 'date-time', description: 'previous: signatures by this key are refused after this' })
  notAfter?: string;
}

export class PeerListDto {
  @ApiProperty({ type: [PeerDto] })
  items: PeerDto[];
}

export class KeyStatementSignatureDto {
  @ApiProperty({ description: 'base64url JSON: {alg: "EdDSA", typ: "kouza-key-statement+jws", kid: <key thumbprint>}' })
  protected: string;

  @ApiProperty({ description: 'base64url Ed25519 signature' })
  signature: string;
}

export class KeyStatementDto {
  @ApiProperty({ description: 'base64url JSON: {nodeId, iat, signingKey, encryptionKey, keys}' })
  payload: string;

  @ApiProperty({ type: [KeyStatementSignatureDto] })
  signatures: KeyStatementSignatureDto[];
}

export class NodeDto {
  @ApiProperty({ example: 'kouza-hub.example-bank' })
  nodeId: string;

  @ApiProperty({ type: PublicJwkDto, description: 'Ed25519: verifies what this node signs' })
  signingKey: PublicJwkDto;

  @ApiProperty({ type: PublicJwkDto, description: 'X25519: what peers encrypt to this node' })
  encryptionKey: PublicJwkDto;

  @ApiProperty({
    type: [NodeKeyDto],
    description: 'The current keys (the two above) and the previous signing keys still within their grace period',
  })
  keys: NodeKeyDto[];

  @ApiProperty({
    type: () => KeyStatementDto,
    description:
      'nodeId, signingKey, encryptionKey and keys with iat, signed (JWS General JSON, typ kouza-key-statement+jws) by ' +
      'the current signing key and each previous one held: the keys as this node itself states them',
  })
  keyStatement: KeyStatementDto;
}
