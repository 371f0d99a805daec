import { InitialSchema1764140000000 } from '../../migrations/1764140000000-InitialSchema.js';
import { AttachFunction1764140000001 } from '../../migrations/1764140000001-AttachFunction.js';
import { Peers1764140000002 } from '../../migrations/1764140000002-Peers.js';
import { Webhooks1764140000003 } from '../../migrations/1764140000003-Webhooks.js';
import { Inquiries1764140000004 } from '../../migrations/1764140000004-Inquiries.js';
import { AccountRegister1764140000005 } from '../../migrations/1764140000005-AccountRegister.js';
import { NumberingOrigin1764140000006 } from '../../migrations/1764140000006-NumberingOrigin.js';
import { NumberingRequests1764140000007 } from '../../migrations/1764140000007-NumberingRequests.js';
import { KeyRotations1764140000008 } from '../../migrations/1764140000008-KeyRotations.js';
import { AccessHistoryAndPeerKeys1764140000009 } from '../../migrations/1764140000009-AccessHistoryAndPeerKeys.js';
import { RateLimits1764140000010 } from '../../migrations/1764140000010-RateLimits.js';
import { RegisterHolderIndex1764140000011 } from '../../migrations/1764140000011-RegisterHolderIndex.js';
import { WebhookDisabling1764140000012 } from '../../migrations/1764140000012-WebhookDisabling.js';
import { WebhookSecretOverlap1764140000013 } from '../../migrations/1764140000013-WebhookSecretOverlap.js';
import { AuditAppRole1764140000014 } from '../../migrations/1764140000014-AuditAppRole.js';
import { PeerTrust1764140000016 } from '../../migrations/1764140000016-PeerTrust.js';
import { DeceasedReportEvidence1764140000017 } from '../../migrations/1764140000017-DeceasedReportEvidence.js';
import { RegisterOneActiveUpload1764140000019 } from '../../migrations/1764140000019-RegisterOneActiveUpload.js';
import { RegisterUploadSpool1764140000024 } from '../../migrations/1764140000024-RegisterUploadSpool.js';
import { InquiryAnswersNoForeignKey1764140000025 } from '../../migrations/1764140000025-InquiryAnswersNoForeignKey.js';
import { EmptyAnswers1764140000026 } from '../../migrations/1764140000026-EmptyAnswers.js';

/** Every migration, oldest first. Listed explicitly so that tests and builds load the same set. */
export const MIGRATIONS = [
  InitialSchema1764140000000,
  AttachFunction1764140000001,
  Peers1764140000002,
  Webhooks1764140000003,
  Inquiries1764140000004,
  AccountRegister1764140000005,
  NumberingOrigin1764140000006,
  NumberingRequests1764140000007,
  KeyRotations1764140000008,
  AccessHistoryAndPeerKeys1764140000009,
  RateLimits1764140000010,
  RegisterHolderIndex1764140000011,
  WebhookDisabling1764140000012,
  WebhookSecretOverlap1764140000013,
  AuditAppRole1764140000014,
  PeerTrust1764140000016,
  DeceasedReportEvidence1764140000017,
  RegisterOneActiveUpload1764140000019,
  RegisterUploadSpool1764140000024,
  InquiryAnswersNoForeignKey1764140000025,
  EmptyAnswers1764140000026,
];
