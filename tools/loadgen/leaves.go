package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Reading every leaf.
//
// The service answers a GET with the document's winning revision only. On
// a cluster (or after a replication) a document can also have losing
// leaves: revisions no read shows, which may hold tastings the service
// acknowledged. With -audit-couch, loadgen reads each fruit's document
// straight from the database with open_revs=all: the stored counter is
// the winner's (the revision CouchDB would show), so a tasting parked in a
// losing leaf counts as lost, not as stored; and the verdict says how many
// live losing leaves the fruit has and how many tastings beyond the
// winner's the fullest of them holds (a merge could bring those back).

// maxLeaves bounds the leaves read per fruit.
const maxLeaves = 64

// auditDB returns a client for the database of -audit-couch, with the
// credentials of COUCHDB_USER and COUCHDB_PASSWORD if its URL has none.
func auditDB(cfg config) *service {
	u := *cfg.AuditCouch
	if user := os.Getenv("COUCHDB_USER"); user != "" && u.User == nil {
		u.User = url.UserPassword(user, os.Getenv("COUCHDB_PASSWORD"))
	}
	return newService(&u, cfg.Concurrency, cfg.Timeout)
}

// readLeaves reads every fruit from the database of -audit-couch: its
// document through the view, then every leaf of it.
func (r *runner) readLeaves(ctx context.Context, recs []fruitRecord) map[string]readBack {
	db := auditDB(r.cfg)
	defer db.close()
	out := make(map[string]readBack, len(recs))
	ids := make([]string, len(recs))
	for i, rec := range recs {
		ids[i] = rec.ID
	}
	docs, err := lookUpDocs(ctx, db, ids)
	if err != nil {
		for _, id := range ids {
			out[id] = readBack{Err: fmt.Sprintf("-audit-couch %s: %v", r.cfg.AuditCouch.Redacted(), err)}
		}
		return out
	}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	next := make(chan string)
	for range r.cfg.Concurrency {
		wg.Go(func() {
			for id := range next {
				rb := readBack{} // not in the view: gone
				if doc := docs[id]; doc != "" {
					rb = readDoc(ctx, db, doc)
				}
				mu.Lock()
				out[id] = rb
				mu.Unlock()
			}
		})
	}
	for _, id := range ids {
		next <- id
	}
	close(next)
	wg.Wait()
	return out
}

// lookUpDocs finds the document id of each fruit through the view; a
// fruit not in it (deleted) is left out.
func lookUpDocs(ctx context.Context, db *service, fruitIDs []string) (map[string]string, error) {
	a := db.do(ctx, http.MethodPost, viewByFruitID, map[string]any{"keys": fruitIDs})
	if a.Err != nil || a.Status != http.StatusOK {
		return nil, fmt.Errorf("POST %s: %s", viewByFruitID, a.describe())
	}
	var v struct {
		Rows []struct {
			ID  string `json:"id"`
			Key string `json:"key"`
		} `json:"rows"`
	}
	if err := json.Unmarshal(a.Body, &v); err != nil {
		return nil, fmt.Errorf("POST %s: not a view's answer: %w", viewByFruitID, err)
	}
	docs := make(map[string]string, len(v.Rows))
	for _, row := range v.Rows {
		if row.ID != "" {
			docs[row.Key] = row.ID
		}
	}
	return docs, nil
}

// readDoc reads every leaf of the document id and sums them up.
func readDoc(ctx context.Context, db *service, id string) readBack {
	path := "/" + url.PathEscape(id) + "?open_revs=all"
	var a answer
	for attempt := range 3 {
		a = db.do(ctx, http.MethodGet, path, nil)
		if a.Err == nil && a.Status == http.StatusOK || attempt == 2 {
			break
		}
	}
	if a.Err != nil || a.Status != http.StatusOK {
		return readBack{Err: fmt.Sprintf("GET document %.80q?open_revs=all: %s", id, a.describe())}
	}
	var leaves []openRev
	if err := json.Unmarshal(a.Body, &leaves); err != nil {
		return readBack{Err: fmt.Sprintf("GET document %.80q?open_revs=all: not a list of leaves: %v", id, err)}
	}
	return sumLeaves(liveLeaves(leaves))
}

// openRev is one entry of an open_revs answer.
type openRev struct {
	OK *struct {
		Rev      string `json:"_rev"`
		Deleted  bool   `json:"_deleted"`
		Tastings int64  `json:"tastings"`
	} `json:"ok"`
}

// leaf is one live revision of a document.
type leaf struct {
	Rev      string
	Tastings int64
}

// liveLeaves keeps the live leaves of an open_revs answer.
func liveLeaves(in []openRev) []leaf {
	var out []leaf
	for _, l := range in {
		if l.OK != nil && !l.OK.Deleted && len(out) < maxLeaves {
			out = append(out, leaf{Rev: l.OK.Rev, Tastings: l.OK.Tastings})
		}
	}
	return out
}

// sumLeaves picks the winner among the live leaves as CouchDB does (the
// highest generation, then the highest revision id) and counts the
// others: a document with no live leaf is gone.
func sumLeaves(live []leaf) readBack {
	if len(live) == 0 {
		return readBack{}
	}
	w := 0
	for i := range live {
		if revLess(live[w].Rev, live[i].Rev) {
			w = i
		}
	}
	rb := readBack{Found: true, Tastings: live[w].Tastings, Leaves: len(live) - 1}
	for i, l := range live {
		if i != w && l.Tastings-live[w].Tastings > rb.Parked {
			rb.Parked = l.Tastings - live[w].Tastings
		}
	}
	return rb
}

// revLess orders revisions as CouchDB picks a winner: by generation, then
// by revision id.
func revLess(a, b string) bool {
	ga, ha, _ := strings.Cut(a, "-")
	gb, hb, _ := strings.Cut(b, "-")
	na, _ := strconv.Atoi(ga)
	nb, _ := strconv.Atoi(gb)
	if na != nb {
		return na < nb
	}
	return ha < hb
}
