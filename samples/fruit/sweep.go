package fruit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/accord-db/accord/couch"
	"github.com/accord-db/accord/resolve"
)

// SweepConfig turns on the replication-conflict sweeper (see
// [couch.Sweeper]): a service whose database replicates with another, or
// lives on a cluster, settles the documents left with _conflicts.
type SweepConfig struct {
	// Interval is the longest time between two sweeps; a change on the
	// database's changes feed starts one sooner. Zero (the default)
	// turns the sweeper off.
	Interval time.Duration `yaml:"interval"`
	// Resolver decides the replication conflicts. Default: the service's
	// resolver. A resolver that only retries (basic, retry, backoff)
	// leaves every replication conflict as it is: there is no caller's
	// change to re-apply; use merge here.
	Resolver *ResolverConfig `yaml:"resolver"`
	// Peers are the URLs of the database's other replicas
	// (multi-master, like Database: the name last). The sweeper reads
	// from them an ancestor's body this server lacks (see
	// [couch.SweepConfig.Peers]).
	Peers []string `yaml:"peers"`
}

// validate checks the sweep section.
func (c SweepConfig) validate() error {
	if c.Interval < 0 {
		return errors.New("sweep.interval must not be negative")
	}
	if c.Resolver != nil {
		if err := c.Resolver.validate("sweep.resolver"); err != nil {
			return err
		}
	}
	if len(c.Peers) > maxSweepPeers {
		return fmt.Errorf("sweep.peers: %d peers, at most %d", len(c.Peers), maxSweepPeers)
	}
	for i, p := range c.Peers {
		if _, _, err := couch.SplitDatabaseURL(p); err != nil {
			return fmt.Errorf("sweep.peers[%d]: %w", i, err)
		}
	}
	return nil
}

// maxSweepPeers bounds sweep.peers.
const maxSweepPeers = 16

// openPeers opens the databases of urls.
func openPeers(urls []string, logger *slog.Logger) ([]*couch.DB, error) {
	var dbs []*couch.DB
	for i, raw := range urls {
		server, name, err := couch.SplitDatabaseURL(raw)
		if err != nil {
			return nil, fmt.Errorf("sweep.peers[%d]: %w", i, err)
		}
		c, err := couch.New(couch.Config{URL: server.String(), Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("sweep.peers[%d]: %w", i, err)
		}
		dbs = append(dbs, c.DB(name))
	}
	return dbs, nil
}

// OpenSweeper returns the sweeper c configures over db, with resolver as
// its resolver unless c names its own; close releases that one. It
// returns a nil sweeper when c.Interval is zero and once is false.
// sealer, if not nil, is the store's (see [StoreSealer]): the sweeper
// verifies and decrypts the leaves it reads, and signs and encrypts the
// merges it writes; stats counts the leaves it refuses.
func OpenSweeper(ctx context.Context, c SweepConfig, db *couch.DB, resolver resolve.Resolver, logger *slog.Logger, once bool, sealer couch.Sealer, stats *couch.Stats) (s *couch.Sweeper, close func(context.Context) error, err error) {
	close = func(context.Context) error { return nil }
	if c.Interval == 0 && !once {
		return nil, close, nil
	}
	peers, err := openPeers(c.Peers, logger)
	if err != nil {
		return nil, nil, err
	}
	if c.Resolver != nil {
		if resolver, close, err = OpenResolver(ctx, *c.Resolver, logger); err != nil {
			return nil, nil, err
		}
	}
	s, err = couch.NewSweeper(db, couch.SweepConfig{Resolver: resolver, Logger: logger, Sealer: sealer, Stats: stats, Peers: peers})
	if err != nil {
		_ = close(ctx)
		return nil, nil, err
	}
	return s, close, nil
}

// sweepCollector exports the sweeper's counters to /metrics.
type sweepCollector struct{ s *couch.Sweeper }

var descSweep = prometheus.NewDesc("accord_sweep_leaves_total",
	"Losing leaves of replication conflicts the sweeper handled, by outcome: merged, accepted (settled without their changes), absorbed (already in the winner), left (for a later sweep).",
	[]string{"outcome"}, nil)

var descSweepDocs = prometheus.NewDesc("accord_sweep_documents_total",
	"Documents the sweeper read (checked), left without conflicts (settled) or could not settle (failed).",
	[]string{"outcome"}, nil)

var descSweepPending = prometheus.NewDesc("accord_sweep_pending_documents",
	"Documents a sweep left in conflict, which every sweep tries again.", nil, nil)

func (c sweepCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descSweep
	ch <- descSweepDocs
	ch <- descSweepPending
}

func (c sweepCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	for _, kv := range []struct {
		k string
		v int64
	}{{"merged", st.Merged}, {"accepted", st.Accepted}, {"absorbed", st.Absorbed}, {"left", st.Left}} {
		ch <- prometheus.MustNewConstMetric(descSweep, prometheus.CounterValue, float64(kv.v), kv.k)
	}
	for _, kv := range []struct {
		k string
		v int64
	}{{"checked", st.Checked}, {"settled", st.Settled}, {"failed", st.Failed}} {
		ch <- prometheus.MustNewConstMetric(descSweepDocs, prometheus.CounterValue, float64(kv.v), kv.k)
	}
	ch <- prometheus.MustNewConstMetric(descSweepPending, prometheus.GaugeValue, float64(st.Pending))
}
