package fruit

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/julienschmidt/httprouter"

	"github.com/accord-db/accord/engine"
	"github.com/accord-db/accord/resolve"
)

// Health statuses, from the seed.
const (
	green  = "green"
	yellow = "yellow"
	red    = "red"
)

// Fragmentation thresholds of the deep health check, in percent. As in
// the seed, they count only for a database or view of at least
// minSizeForFragmentation bytes on disk: a small file is mostly overhead.
const (
	yellowFragmentation     = 50
	redFragmentation        = 80
	minSizeForFragmentation = 1 << 20
)

// parseQuick reads the quick parameter: absent or true/t/y/yes/1 is a
// quick check, false/f/n/no/0 a deep one; anything else is an error.
func parseQuick(r *http.Request) (quick bool, err error) {
	values, ok := r.URL.Query()["quick"]
	if !ok {
		return true, nil
	}
	if len(values) != 1 {
		return false, fmt.Errorf("quick given %d times", len(values))
	}
	switch strings.ToLower(values[0]) {
	case "true", "t", "y", "yes", "1":
		return true, nil
	case "false", "f", "n", "no", "0":
		return false, nil
	}
	return false, fmt.Errorf("quick=%q is not one of true, t, y, yes, 1, false, f, n, no, 0", clip(values[0], maxEchoBytes))
}

// selfLink is the link to the resource r asked for, without its query:
// a path, relative to wherever the client reached the service. The Host
// header is never reflected: a client (or a proxy's cache) could set it
// to any site.
func selfLink(r *http.Request) map[string]any {
	return map[string]any{"self": map[string]string{"href": r.URL.EscapedPath()}}
}

// health answers the seed's /_health: a quick check answers green at once;
// a deep one (quick=false) also reaches the database and looks at its and
// its views' fragmentation.
func (s *Service) health(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	quick, err := parseQuick(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_query", err.Error())
		return
	}
	links := selfLink(r)
	w.Header().Set("Location", links["self"].(map[string]string)["href"])
	body := map[string]any{"status": green, "links": links}
	body["resolver"], body["status"] = resolverHealth(s.resolver)
	if quick {
		writeJSON(w, http.StatusOK, body)
		return
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	database := map[string]any{}
	body["database"] = database
	if err := s.db.CheckHealth(ctx); err != nil {
		// The error names the database's URL and how dialing it failed:
		// the log's business, not an unauthenticated client's.
		s.logger.Error("health check: database unavailable", "error", clipErr(err))
		body["status"], database["status"], database["reason"] = red, red, "the database cannot be reached"
		writeJSON(w, http.StatusServiceUnavailable, body)
		return
	}
	database["status"] = green
	status := body["status"].(string)
	if m, err := s.db.Metrics(ctx); err == nil {
		database["fragmentationStatus"] = fragmentationStatus(m.DiskSize, m.Fragmentation)
		status = worst(status, database["fragmentationStatus"].(string))
		views := map[string]any{}
		for name, v := range m.Views {
			fs := fragmentationStatus(v.DiskSize, v.Fragmentation)
			views[name] = map[string]string{"fragmentationStatus": fs}
			status = worst(status, fs)
		}
		database["views"] = views
	}
	body["status"] = status
	code := http.StatusOK
	if status == red {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, body)
}

// fragmentationStatus rates a file's fragmentation; "unknown" when the
// server does not report sizes.
func fragmentationStatus(disk *int64, frag *float64) string {
	switch {
	case disk == nil || frag == nil:
		return "unknown"
	case *disk < minSizeForFragmentation:
		return green
	case *frag >= redFragmentation:
		return red
	case *frag >= yellowFragmentation:
		return yellow
	}
	return green
}

func worst(a, b string) string {
	rank := map[string]int{green: 0, "unknown": 0, yellow: 1, red: 2}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// resolverHealth rates the service's resolver, and the service with it:
// yellow while the plugin is backed off after failing again and again
// (an engine.Resolver then refuses calls at once, so conflicting writes
// fail with 503 but everything else works), green otherwise and for a
// resolver that does not report its health. The plugin's errors go to
// the log, not into this unauthenticated answer.
func resolverHealth(r resolve.Resolver) (map[string]any, string) {
	if h, ok := r.(interface{ Health() engine.Health }); ok && !h.Health().Healthy {
		return map[string]any{"status": yellow, "reason": "the resolver plugin keeps failing; conflicting writes fail until it recovers"}, yellow
	}
	return map[string]any{"status": green}, green
}
