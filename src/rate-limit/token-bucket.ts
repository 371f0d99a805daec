/**
 * A token bucket in one Lua script: one Redis round trip per request, atomic, with
 * Redis's clock (API replicas' clocks may differ). The bucket holds up to `burst`
 * tokens and refills at `perMinute / 60` per second; a request takes one token.
 *
 * KEYS[1] the bucket; ARGV[1] burst, ARGV[2] tokens per millisecond, ARGV[3] the tokens
 * this request takes (1 when absent; a peer's message takes one per query it carries).
 * Returns { allowed (1|0), tokens left (floor), ms until that many tokens, ms until full }.
 */
export const TOKEN_BUCKET_LUA = `
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3]) or 1
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 't', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = burst
  at = now
end
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local allowed = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
end
local untilFull = math.ceil((burst - tokens) / rate)
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], untilFull + 1000)
local untilOne = 0
if tokens < cost then untilOne = math.ceil((cost - tokens) / rate) end
return { allowed, math.floor(tokens), untilOne, untilFull }
`;

export interface RateLimit {
  /** Steady rate; 0 = not limited. */
  perMinute: number;
  burst: number;
}

export interface BucketDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Seconds until a request would be accepted (0 when allowed). */
  retryAfterSeconds: number;
  /** Seconds until the bucket is full again. */
  resetSeconds: number;
}

/** Reads the script's answer into headers' terms (whole seconds, rounded up). */
export function toDecision(limit: RateLimit, reply: [number, number, number, number]): BucketDecision {
  const [allowed, remaining, untilOneMs, untilFullMs] = reply;
  return {
    allowed: allowed === 1,
    limit: limit.burst,
    remaining,
    retryAfterSeconds: allowed === 1 ? 0 : Math.max(1, Math.ceil(untilOneMs / 1000)),
    resetSeconds: Math.ceil(untilFullMs / 1000),
  };
}
