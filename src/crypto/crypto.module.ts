import { Global, Module } from '@nestjs/common';
import { BlindIndex } from './blind-index.js';
import { DataKeysRepository } from './data-keys.repository.js';
import { MasterKeySealer } from './master-key-sealer.js';
import { MyNumberCipher } from './my-number-cipher.js';

/** Blind index and envelope encryption; KEY_MATERIAL is provided by the root module. */
@Global()
@Module({
  providers: [BlindIndex, DataKeysRepository, MasterKeySealer, MyNumberCipher],
  exports: [BlindIndex, DataKeysRepository, MasterKeySealer, MyNumberCipher],
})
export class CryptoModule {}
