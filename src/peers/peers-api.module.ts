import { Module } from '@nestjs/common';
import { PeerLocationQueriesController } from './peer-location-queries.controller.js';
import { NodeController, PeersController } from './peers.controller.js';
import { PeersModule } from './peers.module.js';

/** The API's routes of the node-to-node protocol and of the operator's peer registry. */
@Module({
  imports: [PeersModule],
  controllers: [NodeController, PeersController, PeerLocationQueriesController],
})
export class PeersApiModule {}
