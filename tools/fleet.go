package tools

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"panoptes/fleet"
	"panoptes/internal/cli"
	"panoptes/record"
	"panoptes/tools/timerange"
)

// scanFleet reads the records of the archive hosts an -R nats://BROKER/SITES names:
// the filter (when fn ignores what it rejects) and -t's span go to every site, which
// sends only what matches, and the sites' records arrive merged in start-time order.
// A site that fails or stays silent for --timeout is named in a warning and makes the
// result partial (c.partial; exit status 3), the other sites' records are kept.
func scanFleet(prog string, c *common, url string, tr timerange.Range, useTime bool, stderr io.Writer, fn func(*record.Record) bool) (bool, error) {
	t, err := fleet.ParseURL(url, "")
	if err != nil {
		return false, cli.Usagef("-R %v", err)
	}
	if c.timeout <= 0 {
		return false, cli.Usagef("--timeout %s: want a positive duration", c.timeout)
	}
	req := fleet.Request{Kind: fleet.KindRecords, Strict: c.strict}
	if f := c.archiveFilter(); f != nil {
		req.Filter = f.Expr()
	}
	if useTime && !tr.Negate {
		// The sites select by overlap; fn applies the range's own mode.
		req.Time, req.T0, req.T1 = true, tr.Start, tr.End-1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	more := true
	res, err := fleet.Query(ctx, t, req, fleet.QueryOptions{Timeout: c.timeout}, func(_ string, r *record.Record) bool {
		more = fn(r)
		return more
	})
	if err != nil {
		return false, fmt.Errorf("-R %w", err)
	}
	warnFleet(prog, c, t, res, stderr)
	return more && ctx.Err() == nil, nil
}

// warnFleet reports the sites' damage and failures; a failed site makes the result
// partial.
func warnFleet(prog string, c *common, t fleet.Target, res fleet.Result, stderr io.Writer) {
	for _, s := range res.Sites {
		if s.DamagedBlocks > 0 {
			fmt.Fprintf(stderr, "panoptes %s: warning: %s: site %s: %d damaged blocks skipped, %d records lost (index verify on that host lists them)\n", prog, t, s.Site, s.DamagedBlocks, s.DamagedRecords)
		}
	}
	failed := res.Failed()
	if len(failed) == 0 {
		return
	}
	names := make([]string, len(failed))
	for i, s := range failed {
		names[i] = s.Site
		fmt.Fprintf(stderr, "panoptes %s: warning: %s: site %s: %v (the result is partial: it lacks this site)\n", prog, t, s.Site, s.Err)
	}
	err := fmt.Errorf("%w: sites %s did not answer in full", cli.ErrPartial, strings.Join(names, ", "))
	if c.partial != nil {
		err = errors.Join(c.partial, err)
	}
	c.partial = err
}

// partialStatus turns a tool's success (or "nothing matched") into the partial
// status when a fleet site did not answer: the output stands for the sites that did.
func (c *common) partialStatus(result *error) {
	if c.partial != nil && (*result == nil || errors.Is(*result, cli.ErrNoMatch)) {
		*result = c.partial
	}
}
