package app

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/vitalsdev/vitals/handlers"
	"github.com/vitalsdev/vitals/storage"
)

// secretsFile is the copy, in the data directory, of the two settings an
// admin cannot sign in without: the session key and the password hash.
const secretsFile = "secrets.json"

// cachedKeys are the settings kept in the secrets file.
var cachedKeys = map[string]bool{handlers.SessionKeySetting: true, AdminHashKey: true}

// secretCache keeps those settings in a 0600 file beside the store's other
// local state. With a PostgreSQL store it lets a server restarted during
// an outage still verify sessions and sign the admin in; the store stays
// the truth whenever it answers.
type secretCache struct {
	path string
	log  *slog.Logger
	mu   sync.Mutex
	warn sync.Once
	// seen is what this process last read or wrote, so that the store's
	// unchanged answers, which are nearly all of them, cost no file I/O.
	seen map[string]string
}

func newSecretCache(dataDir string, log *slog.Logger) *secretCache {
	c := &secretCache{path: filepath.Join(dataDir, secretsFile), log: log}
	c.seen = c.read()
	return c
}

func (c *secretCache) read() map[string]string {
	m := map[string]string{}
	b, err := os.ReadFile(c.path)
	if err == nil {
		_ = json.Unmarshal(b, &m) // a damaged file is an empty cache
	}
	return m
}

// get returns the cached value of key, "" when there is none. It reads the
// file, not what this process saw: `vitals admin set-password` may have
// written a newer hash there since.
func (c *secretCache) get(key string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.read()[key]
}

// put records key's value as the store gave it. Only a change touches the
// file, which is then read again (another process may have written the
// other key) and replaced whole (write, sync, rename), so a crash leaves
// the old or the new one.
func (c *secretCache) put(key, value string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.seen[key]; ok && v == value {
		return
	}
	m := c.read()
	c.seen = m
	if m[key] == value {
		return // already there, written by set-password
	}
	m[key] = value
	if err := c.write(m); err != nil {
		c.warn.Do(func() {
			c.log.Warn("cannot keep a copy of the session key and password hash in the data directory; a restart during a database outage will not sign the admin in",
				"path", c.path, "err", err)
		})
	}
}

func (c *secretCache) write(m map[string]string) error {
	if err := os.MkdirAll(filepath.Dir(c.path), 0o700); err != nil {
		return err
	}
	b, _ := json.Marshal(m)
	tmp, err := os.CreateTemp(filepath.Dir(c.path), secretsFile+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err == nil {
		_, err = tmp.Write(b)
		if err == nil {
			err = tmp.Sync()
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp.Name(), c.path)
		}
		return err
	}
	_ = tmp.Close()
	return err
}

// cachedSecrets is the store as the dashboard and the admin's sign-in see
// it: the cached settings are copied to the file on every read and write
// that reaches the store, and read from the file when the store fails.
type cachedSecrets struct {
	storage.Store
	cache *secretCache
}

func (s cachedSecrets) Setting(ctx context.Context, key string) (string, error) {
	v, err := s.Store.Setting(ctx, key)
	if !cachedKeys[key] {
		return v, err
	}
	if err == nil {
		s.cache.put(key, v)
		return v, nil
	}
	if c := s.cache.get(key); c != "" && !errors.Is(err, storage.ErrNotFound) {
		return c, nil
	}
	return v, err
}

func (s cachedSecrets) SetSetting(ctx context.Context, key, value string) error {
	err := s.Store.SetSetting(ctx, key, value)
	if err == nil && cachedKeys[key] {
		s.cache.put(key, value)
	}
	return err
}

func (s cachedSecrets) SetSettingIfAbsent(ctx context.Context, key, value string) (string, error) {
	v, err := s.Store.SetSettingIfAbsent(ctx, key, value)
	if !cachedKeys[key] {
		return v, err
	}
	if err == nil {
		s.cache.put(key, v)
		return v, nil
	}
	if c := s.cache.get(key); c != "" {
		return c, nil
	}
	return v, err
}

// refreshSecrets re-reads the password hash and the session key every
// sample interval (two one-row reads, beside the sampler's queries): a
// password changed with `vitals admin set-password` (which also replaces
// the session key) then holds here too, and every session signed before it
// ends. Settings given in the environment are not read.
func (a *App) refreshSecrets(ctx context.Context, store storage.SettingStore) {
	every(ctx, a.cfg.SampleInterval, func() {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if !a.creds.AdminFromEnv() {
			if h, err := store.Setting(rctx, AdminHashKey); err == nil && a.creds.SetAdminHash([]byte(h)) {
				a.logger.Info("admin password changed in the store; it holds from now on")
			}
		}
		if a.cfg.SessionKey == "" {
			if k, err := sessionKey(rctx, store); err == nil && len(k) >= handlers.MinSessionKeyLen && a.sessionKeys.Install(k) {
				a.logger.Info("session key replaced in the store; every earlier session has ended")
			}
		}
	})
}

// sessionKey reads the stored session key, and makes one only when there is
// none (a store emptied by hand): the usual tick is one read, no random key.
func sessionKey(ctx context.Context, store storage.SettingStore) (string, error) {
	k, err := store.Setting(ctx, handlers.SessionKeySetting)
	if errors.Is(err, storage.ErrNotFound) {
		return store.SetSettingIfAbsent(ctx, handlers.SessionKeySetting, rand.Text()+rand.Text())
	}
	return k, err
}

// every calls fn each interval until ctx ends; the loops beside the
// sampler (secrets, the write probe) share it.
func every(ctx context.Context, interval time.Duration, fn func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// SecretStore is store as `vitals admin set-password` writes to it: with
// PostgreSQL (postgres true) the new hash and session key are also copied
// to the data directory's secrets file, so that this machine's server signs
// in with the new password even when restarted during an outage.
func SecretStore(store storage.Store, postgres bool, dataDir string, log *slog.Logger) storage.Store {
	if !postgres {
		return store
	}
	return cachedSecrets{Store: store, cache: newSecretCache(dataDir, log)}
}
