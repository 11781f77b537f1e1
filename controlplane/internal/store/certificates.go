package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// Certificates are kept in three places:
//   - the metadata hash {ns}:certificates:meta, name -> "<version>:<Certificate protobuf>"
//     (status, validity, errors; never a PEM or a key). The version counts the writes and
//     is the etag. Agents never see it.
//   - the config item KindCertificate (chain and sealed key), which reaches every agent.
//   - for ACME: the issuance lock {ns}:certificates:lock:<name> (a random token, with a
//     TTL) and the account keys, sealed, in {ns}:acme:accounts.

// ErrLockLost: the issuance lock expired or was taken by another replica, so the write that
// was to be fenced by it did not happen.
var ErrLockLost = errors.New("certificate lock lost to another replica")

const errReplyFenced = "EDGEPLANE_FENCED"

// issuedScript stores an issued certificate: its config item (bumping the revision and
// appending to the changelog, as writeScript does) and its metadata, only while the caller
// still holds the lock and the metadata still exists at the expected version.
//
// KEYS: lock, revision, certificates hash, changelog, metadata hash.
// ARGV: token, name, certificate payload, changelog MAXLEN, metadata payload, fresh,
// expected metadata version ("" = any).
// Returns {revision, metadata version}.
var issuedScript = newScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('` + errReplyFenced + `')
end
ep_live(KEYS[2], ARGV[6])
local v = ep_check(KEYS[5], ARGV[2], 'exists', ARGV[7]) + 1
ep_set(KEYS[5], ARGV[2], 'put', v, ARGV[5])
local rev = redis.call('INCR', KEYS[2])
ep_set(KEYS[3], ARGV[2], 'put', rev, ARGV[3])
ep_log(KEYS[4], ARGV[4], rev, 'put', 'certificate', ARGV[2], ARGV[3])
return {rev, v}
`)

// refreshScript extends a lock the caller holds; unlockScript deletes it.
var (
	refreshScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`)
	unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)
)

// CreateCertMeta stores the metadata of a new certificate and returns it with its etag.
// model.ErrAlreadyExists if the name is taken.
func (s *Store) CreateCertMeta(ctx context.Context, c *edgeplanev1.Certificate) (*edgeplanev1.Certificate, error) {
	return s.writeCertMeta(ctx, "create", c, 0, "")
}

// PutCertMeta replaces stored metadata; with ifVersion != 0 only if it is still at that
// version (model.ErrConflict otherwise); with lockToken set only while that token holds the
// certificate's lock (ErrLockLost otherwise). model.ErrNotFound if it does not exist.
func (s *Store) PutCertMeta(ctx context.Context, c *edgeplanev1.Certificate, ifVersion int64, lockToken string) (*edgeplanev1.Certificate, error) {
	return s.writeCertMeta(ctx, "put", c, ifVersion, lockToken)
}

// DeleteCertMeta removes a certificate's metadata, with ifVersion != 0 only at that version.
func (s *Store) DeleteCertMeta(ctx context.Context, name string, ifVersion int64) error {
	_, err := s.runCertMeta(ctx, name, "del", ifVersion, nil, "")
	return err
}

// GetCertMeta reads one certificate's metadata. model.ErrNotFound if it does not exist.
func (s *Store) GetCertMeta(ctx context.Context, name string) (*edgeplanev1.Certificate, error) {
	return getVersioned(ctx, s, s.keys.certMeta, "certificate", name, decodeCertMeta)
}

// ListCertMeta returns every certificate's metadata, ordered by name.
func (s *Store) ListCertMeta(ctx context.Context) ([]*edgeplanev1.Certificate, error) {
	return listVersioned(ctx, s, s.keys.certMeta, "certificate", decodeCertMeta)
}

// CommitIssued stores an issued certificate and its metadata in one step, only while token
// holds the certificate's lock (ErrLockLost otherwise) and its metadata exists
// (model.ErrNotFound: it was deleted meanwhile), with ifVersion != 0 at that version
// (model.ErrConflict). It returns the config revision and the metadata with its new etag.
func (s *Store) CommitIssued(ctx context.Context, token string, cert *edgeplanev1.TlsCertificate, meta *edgeplanev1.Certificate, ifVersion int64, fresh bool) (int64, *edgeplanev1.Certificate, error) {
	payload, err := s.Encode(KindCertificate, cert)
	if err != nil {
		return 0, nil, err
	}
	m, metaPayload, err := encodeCertMeta(meta)
	if err != nil {
		return 0, nil, err
	}
	f, ifv := "", ""
	if fresh {
		f = "1"
	}
	if ifVersion != 0 {
		ifv = strconv.FormatInt(ifVersion, 10)
	}
	res, err := issuedScript.Run(ctx, s.rdb,
		[]string{s.keys.CertificateLock(cert.GetName()), s.keys.revision, s.keys.certificates, s.keys.changelog, s.keys.certMeta},
		token, cert.GetName(), payload, s.changelogLen, metaPayload, f, ifv).Int64Slice()
	if err != nil {
		return 0, nil, certErr(err, fmt.Sprintf("storing certificate %q", cert.GetName()))
	}
	m.Etag = Etag(res[1])
	return res[0], m, nil
}

// LockCertificate takes the issuance lock of a certificate for ttl with a caller-chosen
// random token. It returns false when another holder has it.
func (s *Store) LockCertificate(ctx context.Context, name, token string, ttl time.Duration) (bool, error) {
	ok, err := s.rdb.SetNX(ctx, s.keys.CertificateLock(name), token, ttl).Result()
	return ok, mapErr(err, fmt.Sprintf("locking certificate %q", name))
}

// RefreshCertificateLock extends a lock token holds; ErrLockLost if it no longer does.
func (s *Store) RefreshCertificateLock(ctx context.Context, name, token string, ttl time.Duration) error {
	n, err := refreshScript.Run(ctx, s.rdb, []string{s.keys.CertificateLock(name)}, token, ttl.Milliseconds()).Int64()
	if err != nil {
		return mapErr(err, fmt.Sprintf("refreshing the lock of certificate %q", name))
	}
	if n == 0 {
		return fmt.Errorf("certificate %q: %w", name, ErrLockLost)
	}
	return nil
}

// UnlockCertificate releases a lock if token still holds it.
func (s *Store) UnlockCertificate(ctx context.Context, name, token string) error {
	err := unlockScript.Run(ctx, s.rdb, []string{s.keys.CertificateLock(name)}, token).Err()
	return mapErr(err, fmt.Sprintf("unlocking certificate %q", name))
}

// ACMEAccountKey returns the PEM private key of the ACME account id (such as the directory
// URL and the e-mail address), storing newKey, sealed, if there is none yet. Replicas racing
// to create it all get the first one stored.
func (s *Store) ACMEAccountKey(ctx context.Context, id string, newKey []byte) ([]byte, error) {
	if s.secrets == nil {
		return nil, ErrNoSecretsKey
	}
	if _, err := s.rdb.HSetNX(ctx, s.keys.acmeAccounts, id, s.secrets.SealFor("acme-account/"+id, newKey)).Result(); err != nil {
		return nil, mapErr(err, "storing the ACME account key")
	}
	sealed, err := s.rdb.HGet(ctx, s.keys.acmeAccounts, id).Bytes()
	if err != nil {
		return nil, mapErr(err, "reading the ACME account key")
	}
	key, err := s.secrets.OpenFor("acme-account/"+id, sealed)
	if err != nil {
		return nil, fmt.Errorf("ACME account key: %w", err)
	}
	return key, nil
}

func (s *Store) writeCertMeta(ctx context.Context, op string, c *edgeplanev1.Certificate, ifVersion int64, token string) (*edgeplanev1.Certificate, error) {
	m, payload, err := encodeCertMeta(c)
	if err != nil {
		return nil, err
	}
	v, err := s.runCertMeta(ctx, c.GetName(), op, ifVersion, payload, token)
	if err != nil {
		return nil, err
	}
	m.Etag = Etag(v)
	return m, nil
}

func (s *Store) runCertMeta(ctx context.Context, name, op string, ifVersion int64, payload []byte, token string) (int64, error) {
	v, err := s.runVersioned(ctx, []string{s.keys.certMeta, s.keys.CertificateLock(name)}, name, op, ifVersion, payload, token)
	return v, certErr(err, fmt.Sprintf("writing certificate %q", name))
}

// encodeCertMeta returns a copy of c without its etag, PEM and key, and its encoding.
func encodeCertMeta(c *edgeplanev1.Certificate) (*edgeplanev1.Certificate, []byte, error) {
	m := proto.CloneOf(c)
	m.Etag, m.CertificatePem, m.PrivateKeyPem = "", nil, nil
	payload, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding certificate %q: %w", c.GetName(), err)
	}
	return m, payload, nil
}

func decodeCertMeta(name, v string) (*edgeplanev1.Certificate, error) {
	version, payload, err := splitValue(v)
	if err != nil {
		return nil, fmt.Errorf("reading certificate %q: %w", name, err)
	}
	c := &edgeplanev1.Certificate{}
	if err := proto.Unmarshal(payload, c); err != nil {
		return nil, fmt.Errorf("reading certificate %q: %w", name, err)
	}
	c.Etag = Etag(version)
	return c, nil
}

func certErr(err error, what string) error {
	if err != nil && strings.Contains(err.Error(), errReplyFenced) {
		return fmt.Errorf("%s: %w", what, ErrLockLost)
	}
	return mapErr(err, what)
}
