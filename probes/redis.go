package probes

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisNotConfiguredReason is the reason of the redis group when no client
// is given: not an error, the application simply does not use Redis.
const RedisNotConfiguredReason = "REDIS_URL is not set"

// RedisProbe reports the PING round trip, connected clients and memory of
// a Redis server.
type RedisProbe struct {
	client *redis.Client
}

// NewRedisProbe returns the probe of the "redis" group; client nil means
// Redis is not configured. Give the client ContextTimeoutEnabled so that
// the probe's deadline reaches the socket; without it a hung server holds
// the probe for the client's ReadTimeout, and the Sampler reports the
// timeout meanwhile.
func NewRedisProbe(client *redis.Client) *RedisProbe {
	return &RedisProbe{client: client}
}

// Name returns "redis".
func (p *RedisProbe) Name() string { return "redis" }

// Unavailable keeps "not configured" when there is no client: a missing
// REDIS_URL is not warming up and cannot time out.
func (p *RedisProbe) Unavailable(reason string) Result {
	if p.client == nil {
		return Redis{Status: StatusNotConfigured, Reason: RedisNotConfiguredReason}
	}
	return Redis{Status: StatusUnavailable, Reason: reason}
}

// Read returns the redis group.
func (p *RedisProbe) Read(ctx context.Context) Result {
	if p.client == nil {
		return Redis{Status: StatusNotConfigured, Reason: RedisNotConfiguredReason}
	}
	started := time.Now()
	fail := func(what string, err error) Redis {
		return Redis{Status: StatusUnavailable, Reason: what + redisReason(err, deadlineOf(ctx, started))}
	}
	var lat [samples]time.Duration
	for i := range lat {
		t := time.Now()
		if err := p.client.Ping(ctx).Err(); err != nil {
			return fail("PING: ", err)
		}
		lat[i] = time.Since(t)
	}
	// Two sections in one round trip; INFO with several sections at once
	// needs Redis 7, a pipeline works everywhere.
	pipe := p.client.Pipeline()
	clients := pipe.Info(ctx, "clients")
	memory := pipe.Info(ctx, "memory")
	if _, err := pipe.Exec(ctx); err != nil {
		return fail("INFO: ", err)
	}
	cc, err1 := redisInfoField(clients.Val(), "connected_clients")
	mem, err2 := redisInfoField(memory.Val(), "used_memory")
	if err := errors.Join(err1, err2); err != nil {
		return fail("INFO: ", err)
	}
	return Redis{
		Status:           StatusOK,
		LatencyMS:        fptr(ms(median(lat[:]))),
		ConnectedClients: ptr(int64(cc)),
		UsedMemoryBytes:  ptr(mem),
	}
}

// redisInfoField returns a numeric field of INFO's "key:value" lines.
func redisInfoField(info, key string) (uint64, error) {
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		if !ok || k != key {
			continue
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: invalid %q", key, truncate(v, 32))
		}
		return n, nil
	}
	return 0, fmt.Errorf("%s missing", key)
}

// redisReason names a Redis failure in a few words, without the address
// or the password.
func redisReason(err error, timeout time.Duration) string {
	msg := err.Error()
	switch {
	case errors.Is(err, redis.ErrPoolTimeout):
		return "no free connection in the pool"
	case strings.HasPrefix(msg, "NOAUTH"), strings.HasPrefix(msg, "WRONGPASS"):
		return "authentication failed"
	case strings.HasPrefix(msg, "LOADING"):
		return "server is loading its dataset"
	}
	return shortReason(err, timeout)
}
