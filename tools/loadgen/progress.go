package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"
)

// ttyRefresh is how often the progress line is redrawn on a terminal.
const ttyRefresh = 250 * time.Millisecond

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progress reports how the mix is going: on a terminal one line redrawn
// in place, elsewhere a plain line every interval (none if interval is
// 0).
type progress struct {
	w        io.Writer
	tty      bool
	interval time.Duration
	duration time.Duration
	r        *runner
	stop     chan struct{}
	done     chan struct{}
}

// startProgress starts reporting on w the progress of r's mix, which
// started just now: on a terminal if tty, else in plain lines.
func startProgress(w io.Writer, tty bool, r *runner, duration, interval time.Duration) *progress {
	p := &progress{
		w: w, tty: tty, interval: interval, duration: duration, r: r,
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	every := interval
	if p.tty {
		every = ttyRefresh
	}
	if every <= 0 {
		close(p.done)
		return p
	}
	go p.loop(time.Now(), every)
	return p
}

func (p *progress) loop(start time.Time, every time.Duration) {
	defer close(p.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			if p.tty {
				fmt.Fprintf(p.w, "\r\033[K%s\n", p.line(time.Since(start)))
			}
			return
		case <-t.C:
			if p.tty {
				fmt.Fprintf(p.w, "\r\033[K%s", p.line(time.Since(start)))
			} else {
				fmt.Fprintf(p.w, "loadgen: %s\n", p.line(time.Since(start)))
			}
		}
	}
}

// line says how far the mix is.
func (p *progress) line(elapsed time.Duration) string {
	n, failed := p.r.requests.Load(), p.r.failed.Load()
	rate := 0.0
	if elapsed > 0 {
		rate = float64(n) / elapsed.Seconds()
	}
	remaining := max(p.duration-elapsed, 0)
	return fmt.Sprintf("%s elapsed, %s remaining: %d requests, %.1f/s, %d errors",
		elapsed.Round(100*time.Millisecond), remaining.Round(100*time.Millisecond), n, rate, failed)
}

// end stops the reports, drawing the final line on a terminal.
func (p *progress) end() {
	select {
	case <-p.done:
		return
	default:
	}
	close(p.stop)
	<-p.done
}
