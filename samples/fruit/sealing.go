package fruit

import (
	"errors"
	"fmt"
	"net/http"
	"path/filepath"

	"github.com/julienschmidt/httprouter"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/accord-db/accord/couch"
	"github.com/accord-db/accord/couch/keys"
	"github.com/accord-db/accord/couch/secure"
	"github.com/accord-db/accord/couch/tamper"
)

// KeySource says where a key ring comes from (see package couch/keys for
// the format): an environment variable, which wins when it is set and
// not empty, or a file, relative to the config file. Never the key
// itself: a config file holds no secret.
type KeySource struct {
	// Env is the name of an environment variable holding the ring.
	Env string `yaml:"env"`
	// File is the path of a file holding the ring.
	File string `yaml:"file"`
}

// set reports whether the source names anything.
func (k KeySource) set() bool { return k.Env != "" || k.File != "" }

// TamperConfig turns on tamper detection: every fruit written is signed
// with HMAC-SHA256 (package couch/tamper), every fruit read is verified,
// and one that fails is never served. Off unless Keys is set.
type TamperConfig struct {
	// Keys is the signing key ring: its first key signs, every key
	// verifies.
	Keys KeySource `yaml:"keys"`
}

// SecureConfig turns on the fruit model's sensitive properties (see
// [SensitiveModel]): a grower's e-mail, encrypted with AES-256-GCM, and a
// grower's PIN, hashed with bcrypt. Off unless EncryptionKeys is set;
// without it the API refuses both properties.
type SecureConfig struct {
	// EncryptionKeys is the encryption key ring: its first key encrypts,
	// every key decrypts.
	EncryptionKeys KeySource `yaml:"encryption_keys"`
	// BcryptCost is bcrypt's cost for PINs. Default 10.
	BcryptCost int `yaml:"bcrypt_cost"`
}

// SensitiveModel declares the fruit's sensitive properties.
var SensitiveModel = secure.Model{
	Bcrypt:    []string{"grower_pin"},
	Encrypted: []string{"grower_email"},
}

// relativeKeyFiles makes the config's key file paths relative to the
// config file's directory dir.
func (c *Config) relativeKeyFiles(dir string) {
	for _, f := range []*string{&c.Tamper.Keys.File, &c.Secure.EncryptionKeys.File} {
		if *f != "" && !filepath.IsAbs(*f) {
			*f = filepath.Join(dir, *f)
		}
	}
}

func (c Config) validateSealing() error {
	if c.Secure.BcryptCost != 0 && (c.Secure.BcryptCost < 4 || c.Secure.BcryptCost > 31) {
		return fmt.Errorf("secure.bcrypt_cost %d is not in [4, 31]", c.Secure.BcryptCost)
	}
	if c.Secure.BcryptCost != 0 && !c.Secure.EncryptionKeys.set() {
		return errors.New("secure.bcrypt_cost without secure.encryption_keys: the sensitive properties are off")
	}
	return nil
}

// OpenSealing loads the keys the config names and returns the signer
// (nil when tamper detection is off) and the sensitive properties (nil
// when off), for [Options].
func OpenSealing(c Config) (*tamper.Signer, *secure.Properties, error) {
	var signer *tamper.Signer
	var props *secure.Properties
	if c.Tamper.Keys.set() {
		ring, err := keys.Load(c.Tamper.Keys.Env, c.Tamper.Keys.File)
		if err != nil {
			return nil, nil, fmt.Errorf("tamper.keys: %w", err)
		}
		if signer, err = tamper.New(tamper.Config{Keys: ring}); err != nil {
			return nil, nil, err
		}
	}
	if c.Secure.EncryptionKeys.set() {
		ring, err := keys.Load(c.Secure.EncryptionKeys.Env, c.Secure.EncryptionKeys.File)
		if err != nil {
			return nil, nil, fmt.Errorf("secure.encryption_keys: %w", err)
		}
		if props, err = secure.New(secure.Config{Model: SensitiveModel, EncryptionKeys: ring, BcryptCost: c.Secure.BcryptCost}); err != nil {
			return nil, nil, err
		}
	}
	return signer, props, nil
}

// StoreSealer is the Sealer of the service's store, and of its sweeper:
// the sensitive properties first (encrypted, then signed; verified, then
// decrypted), or nil when both are nil.
func StoreSealer(signer *tamper.Signer, sensitive *secure.Properties) couch.Sealer {
	var s []couch.Sealer
	if sensitive != nil {
		s = append(s, sensitive)
	}
	if signer != nil {
		s = append(s, signer)
	}
	switch len(s) {
	case 0:
		return nil
	case 1:
		return s[0]
	}
	return couch.Seals(s...)
}

// SealingMetrics is the tamper section of /v1.0/_metrics.
type SealingMetrics struct {
	// Signing says whether fruit are signed and verified.
	Signing bool `json:"signing"`
	// Sensitive says whether the sensitive properties are on.
	Sensitive bool `json:"sensitive"`
	// Tampered counts the fruit documents refused on read since the start:
	// they failed verification, or could not be decrypted.
	Tampered int64 `json:"tampered"`
}

func (s *Service) sealingMetrics() SealingMetrics {
	return SealingMetrics{Signing: s.signer != nil, Sensitive: s.sensitive != nil, Tampered: s.stats.Refused()}
}

var descRefused = prometheus.NewDesc("accord_documents_refused_total",
	"Documents refused on read because they failed verification (tampered with) or could not be decrypted.", nil, nil)

// refusedCollector exports the tamper alarm's counter.
type refusedCollector struct{ s *Service }

func (c refusedCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descRefused }

func (c refusedCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descRefused, prometheus.CounterValue, float64(c.s.stats.Refused()))
}

// pinBody is the body of a PIN check.
type pinBody struct {
	PIN string `json:"pin"`
}

// checkPIN answers POST /v1.0/fruits/{fruit_id}/pin {"pin":"1234"}: 200
// {"fruit_id": …, "match": true|false}. A fruit without a PIN never
// matches. The comparison takes bcrypt's time.
func (s *Service) checkPIN(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	id, ok := fruitID(w, ps)
	if !ok {
		return
	}
	var body pinBody
	if err := readJSON(r, pinSchema, &body); err != nil {
		s.writeFailure(w, r, id, err)
		return
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	d, err := s.store.Get(ctx, byFruitID(id))
	if err != nil {
		s.writeFailure(w, r, id, err)
		return
	}
	match := d.Value.GrowerPIN != "" && s.sensitive.Check(d.Value.GrowerPIN, body.PIN)
	writeJSON(w, http.StatusOK, map[string]any{"fruit_id": id, "match": match})
}
