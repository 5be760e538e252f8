package handlers

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/vitalsdev/vitals/storage"
)

// Stored API tokens (`vitals token create`) are checked from memory like
// the environment's: StoredTokens keeps their hashes and reloads them when
// the store says they changed, which it polls every TokenPollInterval, so a
// revoked token is refused within about that long on every instance, and no
// request costs a query.

// TokenPollInterval is how old the token set may be when a bearer token is
// judged; older, the request first asks the store whether the tokens
// changed. It bounds how long a revoked token keeps working.
const TokenPollInterval = 250 * time.Millisecond

// TokenUsageFlush is how often the last-used times of stored tokens are
// written: at most once per token per interval, never on a request.
const TokenUsageFlush = time.Minute

// NewToken makes a random API token (32 bytes from crypto/rand, base64url,
// 43 characters) and the hash to store for it.
func NewToken() (token, hash string) {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand documents it)
	token = base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashToken(token)
}

// HashToken is what the store keeps for a token: its SHA-256, lower-case
// hex. The token is random, so a fast hash is as strong as a slow one.
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// storedToken is one live stored token in memory.
type storedToken struct {
	id   int64
	role Role
	hash [32]byte
	use  *tokenUse
}

// tokenUse is when a token was last used, kept across reloads.
type tokenUse struct {
	// last is the Unix second of the last request, 0 when none since
	// start; written on the request path.
	last atomic.Int64
	// written is the last value stored; only the refresher touches it.
	written int64
}

// StoredTokens is the set of live stored tokens, reloaded on demand.
// It is safe for concurrent use.
type StoredTokens struct {
	store TokenSource
	log   *slog.Logger
	// Poll and Flush are TokenPollInterval and TokenUsageFlush unless
	// changed before Run.
	Poll  time.Duration
	Flush time.Duration

	set atomic.Pointer[[]storedToken]
	// checked is when the set was last compared with the store (Unix
	// nanoseconds); requests refresh it once it is older than Poll.
	checked atomic.Int64

	// storeFailing is set while the last reload failed; then requests no
	// longer wait for a reload but start one in the background (bg), so
	// that a hung store does not hold every bearer request for the reload
	// budget.
	storeFailing atomic.Bool
	bgRunning    atomic.Bool
	bg           sync.WaitGroup

	// mu serialises reloads and last-use writes, which touch these.
	mu      sync.Mutex
	version string
	loaded  bool
	failing bool
	uses    map[int64]*tokenUse
}

// TokenSource is what StoredTokens needs of the store: the stored tokens,
// their version, and a place to record when they were last used.
// storage.Store satisfies it.
type TokenSource interface {
	Tokens(ctx context.Context) ([]storage.Token, error)
	TokensVersion(ctx context.Context) (string, error)
	TouchTokens(ctx context.Context, used map[int64]time.Time) error
}

// NewStoredTokens makes the set; it is empty until Run loads
// it. logger may be nil.
func NewStoredTokens(store TokenSource, logger *slog.Logger) *StoredTokens {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &StoredTokens{store: store, log: logger, Poll: TokenPollInterval, Flush: TokenUsageFlush,
		uses: map[int64]*tokenUse{}}
}

// UseStoredTokens makes c accept the stored tokens of t beside the ones
// from the environment.
func (c *Credentials) UseStoredTokens(t *StoredTokens) { c.stored.Store(t) }

// role finds the role of a token by its SHA-256, comparing with every
// stored token so that the time taken does not tell which matched, and
// notes the use.
func (t *StoredTokens) role(sum [32]byte) Role {
	t.ensureFresh()
	set := t.set.Load()
	if set == nil {
		return RoleNone
	}
	role := RoleNone
	var use *tokenUse
	for i := range *set {
		st := &(*set)[i]
		if subtle.ConstantTimeCompare(sum[:], st.hash[:]) == 1 {
			role, use = st.role, st.use
		}
	}
	if use != nil {
		now := time.Now().Unix()
		if use.last.Load() != now {
			use.last.Store(now)
		}
	}
	return role
}

// ensureFresh compares the set with the store when the last comparison is
// older than Poll, before a bearer token is judged. Checking on demand
// rather than on a timer keeps an idle vitals asleep (a poll four times a
// second was most of its idle CPU), while a revoked token is still refused
// at most Poll after the revocation: the request that presents it reloads
// the set first. At most one reload runs at a time; requests arriving
// meanwhile wait for it, and there are at most a few a second.
func (t *StoredTokens) ensureFresh() {
	if time.Now().UnixNano()-t.checked.Load() < int64(t.Poll) {
		return
	}
	if t.storeFailing.Load() {
		t.reloadInBackground()
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if time.Now().UnixNano()-t.checked.Load() < int64(t.Poll) {
		return // another request reloaded while this one waited
	}
	ctx, cancel := context.WithTimeout(context.Background(), tokenReloadBudget)
	defer cancel()
	t.refreshLoggedLocked(ctx)
	// Even after a failure: a store that is down is not asked again by
	// every request; the last set stays in force.
	t.checked.Store(time.Now().UnixNano())
}

// Reload compares the set with the store now and waits for it. The app
// calls it once PostgreSQL, which connects in the background, is ready and
// before /health passes, so that a token made before the start is not
// refused for a Poll after the first load failed.
func (t *StoredTokens) Reload(ctx context.Context) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.refreshLoggedLocked(ctx)
	t.checked.Store(time.Now().UnixNano())
}

// reloadInBackground starts one reload unless one is running; the last set
// stays in force meanwhile. Run waits for it before it returns.
func (t *StoredTokens) reloadInBackground() {
	if !t.bgRunning.CompareAndSwap(false, true) {
		return
	}
	t.bg.Add(1)
	go func() {
		defer t.bg.Done()
		defer t.bgRunning.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), tokenReloadBudget)
		defer cancel()
		t.mu.Lock()
		defer t.mu.Unlock()
		t.refreshLoggedLocked(ctx)
		t.checked.Store(time.Now().UnixNano())
	}()
}

// tokenReloadBudget bounds a reload made on behalf of a request.
const tokenReloadBudget = 500 * time.Millisecond

// Run loads the set, then writes last-used times every Flush (and once
// more on the way out) until ctx ends. Reloads happen on demand (see
// ensureFresh). A store that cannot be reached keeps the set it had.
func (t *StoredTokens) Run(ctx context.Context) {
	t.mu.Lock()
	t.refreshLoggedLocked(ctx)
	t.checked.Store(time.Now().UnixNano())
	t.mu.Unlock()
	flush := time.NewTicker(t.Flush)
	defer flush.Stop()
	for {
		select {
		case <-ctx.Done():
			t.bg.Wait()
			// A last write of the uses, with a little time of its own:
			// ctx is already done.
			fctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			t.mu.Lock()
			t.flushUses(fctx)
			t.mu.Unlock()
			cancel()
			return
		case <-flush.C:
			t.mu.Lock()
			t.flushUses(ctx)
			t.mu.Unlock()
		}
	}
}

// refreshLoggedLocked is refreshLocked, logging only when the store starts or
// stops failing, so that a long outage is one line, not one per reload.
// t.mu is held.
func (t *StoredTokens) refreshLoggedLocked(ctx context.Context) {
	err := t.refreshLocked(ctx)
	t.storeFailing.Store(err != nil)
	switch {
	case err != nil && ctx.Err() != nil:
	case err != nil && !t.failing:
		t.failing = true
		level := slog.LevelWarn
		if errors.Is(err, storage.ErrUnavailable) {
			level = slog.LevelInfo // the store's own loop reports the outage
		}
		t.log.Log(ctx, level, "stored tokens: cannot reload; keeping the last set", "err", err)
	case err == nil && t.failing:
		t.failing = false
		t.log.Info("stored tokens: reloaded again")
	}
}

// refreshLocked reloads the tokens when the store's TokensVersion differs
// from the one loaded. t.mu is held.
func (t *StoredTokens) refreshLocked(ctx context.Context) error {
	v, err := t.store.TokensVersion(ctx)
	if err != nil {
		return err
	}
	if t.loaded && v == t.version {
		return nil
	}
	list, err := t.store.Tokens(ctx)
	if err != nil {
		return err
	}
	set := make([]storedToken, 0, len(list))
	live := make(map[int64]bool, len(list))
	for _, tok := range list {
		if st, ok := t.liveTokenLocked(tok); ok {
			set = append(set, st)
			live[tok.ID] = true
		}
	}
	t.set.Store(&set)
	t.dropGoneLocked(ctx, live)
	t.version, t.loaded = v, true
	return nil
}

// liveTokenLocked is tok as the request path checks it, false when it is
// revoked, of a kind no bearer may use, or its hash is malformed. t.mu is
// held.
func (t *StoredTokens) liveTokenLocked(tok storage.Token) (storedToken, bool) {
	if tok.RevokedAt != nil {
		return storedToken{}, false
	}
	var role Role
	switch tok.Kind {
	case storage.TokenRead:
		role = RoleRead
	case storage.TokenIngest:
		role = RoleIngest
	case storage.TokenAdmin:
		role = RoleAdminToken
	default:
		return storedToken{}, false
	}
	raw, err := hex.DecodeString(tok.Hash)
	if err != nil || len(raw) != sha256.Size {
		t.log.Warn("stored tokens: skipping a token with a malformed hash", "id", tok.ID, "name", tok.Name)
		return storedToken{}, false
	}
	use := t.uses[tok.ID]
	if use == nil {
		use = &tokenUse{}
		if tok.LastUsedAt != nil {
			use.written = tok.LastUsedAt.Unix()
		}
		t.uses[tok.ID] = use
	}
	st := storedToken{id: tok.ID, role: role, use: use}
	copy(st.hash[:], raw)
	return st, true
}

// dropGoneLocked writes the uses of tokens no longer live once more, then
// forgets them. t.mu is held.
func (t *StoredTokens) dropGoneLocked(ctx context.Context, live map[int64]bool) {
	var gone []int64
	for id := range t.uses {
		if !live[id] {
			gone = append(gone, id)
		}
	}
	if len(gone) == 0 {
		return
	}
	t.flushUses(ctx)
	for _, id := range gone {
		delete(t.uses, id)
	}
}

// flushUses writes the last-used times that changed since the last write.
func (t *StoredTokens) flushUses(ctx context.Context) {
	used := map[int64]time.Time{}
	for id, u := range t.uses {
		if last := u.last.Load(); last > u.written {
			used[id] = time.Unix(last, 0)
		}
	}
	if len(used) == 0 {
		return
	}
	if err := t.store.TouchTokens(ctx, used); err != nil {
		if ctx.Err() == nil {
			t.log.Warn("stored tokens: cannot record last use", "err", err)
		}
		return
	}
	for id, at := range used {
		t.uses[id].written = at.Unix()
	}
}

// ingestLimiter is a token bucket per credential for POST /api/v1/events:
// rate requests a second on average, up to burst at once. A request counts
// once whether it carries one event or a batch of 500, so batching is never
// penalised. Buckets live in memory, one per ingest token that posted (only
// valid ingest tokens reach it), so each instance limits on its own.
type ingestLimiter struct {
	rate  float64
	burst float64

	mu      sync.Mutex
	buckets map[[32]byte]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// maxBuckets bounds the map; past it, buckets full again (idle long
// enough to have refilled) are dropped, which forgets nothing.
const maxBuckets = 4096

func newIngestLimiter(rate float64, burst int) *ingestLimiter {
	if rate <= 0 {
		return nil
	}
	return &ingestLimiter{rate: rate, burst: max(float64(burst), 1), buckets: map[[32]byte]*bucket{}}
}

// take spends one request of key's bucket at now; when it is empty it
// returns false and how long until a request is allowed.
func (l *ingestLimiter) take(key [32]byte, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			l.sweep(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = math.Min(l.burst, b.tokens+dt*l.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

func (l *ingestLimiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
}

// handler answers 429 with Retry-After (whole seconds, at least 1) when the
// request's token has used up its bucket. The route's guard has already
// checked the token.
func (l *ingestLimiter) handler(c *fiber.Ctx) error {
	if l == nil {
		return c.Next()
	}
	header := c.Get(fiber.HeaderAuthorization)
	key := sha256.Sum256([]byte(strings.TrimSpace(header[min(len(header), len("bearer ")):])))
	ok, wait := l.take(key, time.Now())
	if ok {
		return c.Next()
	}
	secs := max(int(math.Ceil(wait.Seconds())), 1)
	p := newProblem(fiber.StatusTooManyRequests,
		"this token posts more than "+strconv.FormatFloat(l.rate, 'f', -1, 64)+
			" requests a second; retry after "+strconv.Itoa(secs)+" s, and send events in batches")
	p.Header = map[string]string{fiber.HeaderRetryAfter: strconv.Itoa(secs)}
	return p
}
