package fruit_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/accord-db/accord/couch"
)

// treeAudit is what auditTree found in a fruit's whole revision tree: how
// many tastings the store wrote (a revision one tasting above its parent,
// not a sweep's merge), and the revisions whose count disagrees with the
// store writes they hold (by descent, and through what the sweeps' merges
// absorbed). The first such revision is where a tasting was lost or
// counted twice.
type treeAudit struct {
	revisions, writes, merges, tombstones, bodiless int
	wrong                                           []string
}

// maxDisagreements bounds the revisions a treeAudit lists: the first
// is where a count went wrong, the rest follow from it.
const maxDisagreements = 20

// disagree notes a revision whose count is wrong, the first
// maxDisagreements of them.
func (a *treeAudit) disagree(what string) {
	if len(a.wrong) < maxDisagreements {
		a.wrong = append(a.wrong, what)
	}
}

// auditTree reads every revision of document id (every copy: r=3) and
// checks each revision's tastings against the store writes its content
// holds, unless compaction removed a body on every copy. It is a
// diagnosis for a failed cluster trial.
func auditTree(ctx context.Context, db *couch.DB, id string) (treeAudit, error) {
	var a treeAudit
	leaves, err := db.OpenRevs(ctx, id, nil, quorum(3), func(q url.Values) { q.Set("revs", "true") })
	if err != nil {
		return a, err
	}
	type rev struct {
		parent   string
		body     map[string]json.RawMessage
		tastings int
		claims   []string
		deleted  bool
		merge    bool
	}
	revs := map[string]*rev{}
	var all []string
	for _, l := range leaves {
		if l.Missing {
			continue
		}
		var h struct {
			Revisions struct {
				Start int      `json:"start"`
				IDs   []string `json:"ids"`
			} `json:"_revisions"`
		}
		if err := json.Unmarshal(l.Doc, &h); err != nil {
			return a, err
		}
		for i, hash := range h.Revisions.IDs {
			r := strconv.Itoa(h.Revisions.Start-i) + "-" + hash
			if _, ok := revs[r]; ok {
				break
			}
			revs[r] = &rev{}
			all = append(all, r)
			if i+1 < len(h.Revisions.IDs) {
				revs[r].parent = strconv.Itoa(h.Revisions.Start-i-1) + "-" + h.Revisions.IDs[i+1]
			}
		}
	}
	// Parents found on a later leaf's walk.
	for _, l := range leaves {
		var h struct {
			Revisions struct {
				Start int      `json:"start"`
				IDs   []string `json:"ids"`
			} `json:"_revisions"`
		}
		_ = json.Unmarshal(l.Doc, &h)
		for i := 0; i+1 < len(h.Revisions.IDs); i++ {
			r := strconv.Itoa(h.Revisions.Start-i) + "-" + h.Revisions.IDs[i]
			revs[r].parent = strconv.Itoa(h.Revisions.Start-i-1) + "-" + h.Revisions.IDs[i+1]
		}
	}
	a.revisions = len(all)
	for start := 0; start < len(all); start += 100 {
		batch := all[start:min(start+100, len(all))]
		got, err := db.OpenRevs(ctx, id, batch, quorum(3))
		if err != nil {
			return a, err
		}
		for _, g := range got {
			r := revs[g.Rev]
			if r == nil || g.Missing {
				continue
			}
			if err := json.Unmarshal(g.Doc, &r.body); err != nil {
				return a, err
			}
			r.deleted = g.Deleted
			_ = json.Unmarshal(r.body["tastings"], &r.tastings)
			_ = json.Unmarshal(r.body[couch.AbsorbsField], &r.claims)
			if into, ok := r.body[couch.AbsorbedField]; ok {
				var s string
				_ = json.Unmarshal(into, &s)
				if s != "" {
					if revs[s] != nil {
						revs[s].claims = append(revs[s].claims, r.parent)
					}
				}
			}
		}
	}
	// A sweep's merge has a revision id computed from its parent and its
	// canonical body (couch's childOf).
	for _, name := range all {
		r := revs[name]
		if r.body == nil || r.deleted || r.parent == "" {
			continue
		}
		m := map[string]json.RawMessage{}
		for k, v := range r.body {
			if k != "_rev" && (!strings.HasPrefix(k, "_") || k == "_id") {
				m[k] = v
			}
		}
		b, _ := json.Marshal(m)
		var x any
		_ = json.Unmarshal(b, &x)
		canon, _ := json.Marshal(x)
		h := sha256.New()
		for _, p := range []string{"merge", r.parent, string(canon)} {
			h.Write([]byte(strconv.Itoa(len(p)) + ":" + p))
		}
		_, hash, _ := strings.Cut(name, "-")
		r.merge = hex.EncodeToString(h.Sum(nil))[:32] == hash
	}
	content := func(top string) map[string]bool {
		seen := map[string]bool{}
		stack := []string{top}
		for len(stack) > 0 {
			n := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen[n] || revs[n] == nil {
				continue
			}
			seen[n] = true
			if p := revs[n].parent; p != "" {
				stack = append(stack, p)
			}
			stack = append(stack, revs[n].claims...)
		}
		return seen
	}
	isWrite := func(n string) bool {
		r := revs[n]
		return r.parent != "" && r.body != nil && !r.deleted && !r.merge
	}
	slices.SortFunc(all, func(x, y string) int {
		gx, _ := strconv.Atoi(x[:strings.IndexByte(x, '-')])
		gy, _ := strconv.Atoi(y[:strings.IndexByte(y, '-')])
		return gx - gy
	})
	for _, name := range all {
		r := revs[name]
		switch {
		case r.body == nil:
			a.bodiless++
			continue
		case r.deleted:
			a.tombstones++
			continue
		case r.merge:
			a.merges++
		case r.parent != "":
			a.writes++
			if p := revs[r.parent]; p.body != nil && !p.deleted && r.tastings != p.tastings+1 {
				a.disagree(fmt.Sprintf("%s: a store write of %d tastings over %s of %d", name, r.tastings, r.parent, p.tastings))
			}
		}
		if a.bodiless > 0 {
			// A store write without a body cannot be told from a
			// merge: the counts below would be wrong.
			continue
		}
		held := 0
		for n := range content(name) {
			if isWrite(n) {
				held++
			}
		}
		if held != r.tastings {
			kind := "write"
			if r.merge {
				kind = "merge"
			}
			a.disagree(fmt.Sprintf("%s (%s, parent %s, absorbs %d leaves): %d tastings, holds %d store writes", name, kind, r.parent, len(r.claims), r.tastings, held))
		}
	}
	return a, nil
}
