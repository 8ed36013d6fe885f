package fruit

// HoldWrites makes svc's coalescer call hold before each coalesced write,
// with the fruit's id and the number of changes the write carries; the
// write waits for hold to return. svc must coalesce, and no request may
// be in flight.
func HoldWrites(svc *Service, hold func(id string, size int)) { svc.coalesce.hold = hold }

// Queued returns the number of changes of the fruit id waiting for its
// next write.
func Queued(svc *Service, id string) int {
	c := svc.coalesce
	c.mu.Lock()
	defer c.mu.Unlock()
	if q, ok := c.queues[id]; ok {
		return len(q.pending)
	}
	return 0
}
