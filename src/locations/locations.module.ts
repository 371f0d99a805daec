import { Module } from '@nestjs/common';
import { HostedLocations } from './hosted-locations.js';

/** Location look-ups over the hosted institutions (BlindIndex and PG_POOL are global). */
@Module({
  providers: [HostedLocations],
  exports: [HostedLocations],
})
export class LocationsModule {}
