import { DynamicModule, Global, Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { KEY_MATERIAL } from '../crypto/crypto.tokens.js';
import type { KeyMaterial } from '../crypto/key-material.js';

/** The configuration and keys, loaded and checked before Nest boots, as providers. */
@Global()
@Module({})
export class CoreModule {
  static register(config: AppConfig, keys: KeyMaterial): DynamicModule {
    return {
      module: CoreModule,
      providers: [
        { provide: AppConfig, useValue: config },
        { provide: KEY_MATERIAL, useValue: keys },
      ],
      exports: [AppConfig, KEY_MATERIAL],
    };
  }
}
