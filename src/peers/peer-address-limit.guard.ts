import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { PeerQuota } from './peer-quota.js';

/**
 * The per-address limit of the node-to-node routes: one token per message and client
 * address, taken before the handler opens the envelope (before any look-up of the
 * sender or decryption), so that a flood of messages from one address, registered
 * sender or not, costs a Redis round trip each. The peers' own quotas are counted
 * later, once a message is known to be theirs (PeerQuota.take).
 */
@Injectable()
export class PeerAddressLimitGuard implements CanActivate {
  constructor(private readonly quota: PeerQuota) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    await this.quota.takeForAddress(request.ip);
    return true;
  }
}
