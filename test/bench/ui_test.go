package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
)

// BenchmarkDashboard20 opens 20 dashboards on a cluster of 200 hollow
// nodes and 5,000 running tasks (an `orch server` process) and measures,
// while one task is started and one stopped every 250 ms:
//   - the server's CPU (% of one core) and resident memory with no
//     dashboard open (the baseline) and with 20 open;
//   - the time from a task's creation (RunTask returns) until it shows in
//     an open Tasks page (p50, p99).
//
// A dashboard here is a Go client doing what ui.js does in a browser: it
// signs in, follows /ui/events and re-fetches its page's live region when
// a kind it shows changes (10 on the Tasks page, 10 on the Fleet page).
func BenchmarkDashboard20(b *testing.B) {
	const agents, tasks, dashboards, window = 200, 5000, 20, 20 * time.Second
	for range b.N {
		srv := startServerProc(b, "--plain-http") // chromedp cannot be given the cluster CA here
		ctx, cancel := context.WithCancel(context.Background())
		startHollowAgents(ctx, b, srv, "ui", agents, 4096, 8192)
		spec := []byte(`{"family":"ui","containerDefinitions":[{"name":"a","image":"fake","cpu":16,"memory":32}]}`)
		if _, err := srv.admin.Apply(ctx, []wire.ApplyDocument{{Kind: "TaskDefinition", Spec: spec}}); err != nil {
			b.Fatal(err)
		}
		for range tasks / 1000 {
			if _, err := srv.admin.RunTask(ctx, wire.RunTaskInput{TaskDefinition: "ui", Count: 1000}); err != nil {
				b.Fatal(err)
			}
		}
		testutil.WaitFor(b, 10*time.Minute, "5,000 tasks RUNNING", func() (bool, string) {
			ts, err := srv.admin.ListTasks(ctx, url.Values{"lastStatus": {model.StatusRunning}})
			return err == nil && len(ts) == tasks, fmt.Sprintf("%d RUNNING (%v)", len(ts), err)
		})

		lat := &latencies{started: map[string]time.Time{}}
		phase := func(name string) (cpuPct, rssMiB float64) {
			before := usageOf(b, srv.cmd.Process.Pid)
			start := time.Now()
			churn(ctx, b, srv.admin, lat, window)
			took := time.Since(start)
			after := usageOf(b, srv.cmd.Process.Pid)
			cpuPct = 100 * (after.cpu - before.cpu).Seconds() / took.Seconds()
			b.Logf("%s: server CPU %.1f%% of one core, RSS %.0f MiB", name, cpuPct, after.rssMiB)
			return cpuPct, after.rssMiB
		}
		idleCPU, idleRSS := phase("no dashboards (baseline)")

		dctx, dcancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for i := range dashboards {
			page := "/ui/fleet"
			if i%2 == 0 {
				page = "/ui/tasks"
			}
			d := newDashboard(b, srv.url, srv.cfg.Token, page)
			wg.Go(func() { d.run(dctx, lat) })
		}
		time.Sleep(2 * time.Second) // let them connect and render once
		lat.reset()
		cpu, rss := phase("20 dashboards")
		dcancel()
		wg.Wait()
		p50, p99, n := lat.percentiles()
		b.Logf("task shown in the page: p50 %v, p99 %v (%d observations)", p50, p99, n)
		b.ReportMetric(idleCPU, "idle-cpu-%")
		b.ReportMetric(cpu, "20ui-cpu-%")
		b.ReportMetric(idleRSS, "idle-rss-MiB")
		b.ReportMetric(rss, "20ui-rss-MiB")
		b.ReportMetric(float64(p50.Milliseconds()), "show-p50-ms")
		b.ReportMetric(float64(p99.Milliseconds()), "show-p99-ms")
		cancel()
	}
}

// churn starts one task and stops the oldest started by churn every 250 ms.
func churn(ctx context.Context, b *testing.B, admin interface {
	RunTask(context.Context, wire.RunTaskInput) ([]*model.Task, error)
	StopTask(context.Context, string, string) (*model.Task, error)
}, lat *latencies, d time.Duration) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	end := time.After(d)
	var mine []string
	for {
		select {
		case <-end:
			for _, id := range mine {
				_, _ = admin.StopTask(ctx, id, "bench")
			}
			return
		case <-tick.C:
		}
		t0 := time.Now()
		ts, err := admin.RunTask(ctx, wire.RunTaskInput{TaskDefinition: "ui"})
		if err != nil {
			b.Fatal(err)
		}
		lat.start(ts[0].TaskID, t0)
		mine = append(mine, ts[0].TaskID)
		if len(mine) > 8 {
			_, _ = admin.StopTask(ctx, mine[0], "bench")
			mine = mine[1:]
		}
	}
}

type latencies struct {
	mu      sync.Mutex
	started map[string]time.Time
	seen    []time.Duration
}

func (l *latencies) start(id string, at time.Time) {
	l.mu.Lock()
	l.started[id] = at
	l.mu.Unlock()
}

func (l *latencies) reset() {
	l.mu.Lock()
	l.seen = nil
	clear(l.started)
	l.mu.Unlock()
}

// observe records, for every task created and not yet seen by this page,
// the time until the page's HTML contains it.
func (l *latencies) observe(html string, seenBy map[string]bool) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, at := range l.started {
		if !seenBy[id] && strings.Contains(html, id) {
			seenBy[id] = true
			l.seen = append(l.seen, now.Sub(at))
		}
	}
}

func (l *latencies) percentiles() (p50, p99 time.Duration, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	v := slices.Clone(l.seen)
	slices.Sort(v)
	if len(v) == 0 {
		return 0, 0, 0
	}
	return v[len(v)*50/100], v[min(len(v)-1, len(v)*99/100)], len(v)
}

// dashboard is one open page, doing what ui.js does.
type dashboard struct {
	hc   *http.Client
	base string
	page string
}

func newDashboard(b *testing.B, base, token, page string) *dashboard {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	resp, err := hc.Get(base + "/ui/login")
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="nonce" value="([^"]*)"`).FindSubmatch(body)
	if m == nil {
		b.Fatalf("no sign-in form: %s", body)
	}
	resp, err = hc.PostForm(base+"/ui/login", url.Values{"nonce": {string(m[1])}, "token": {token}, "next": {page}})
	if err != nil || resp.StatusCode != 200 {
		b.Fatalf("sign in: %v %v", err, resp)
	}
	resp.Body.Close()
	return &dashboard{hc: hc, base: base, page: page}
}

func (d *dashboard) run(ctx context.Context, lat *latencies) {
	changed := make(chan struct{}, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "GET", d.base+"/ui/events", nil)
		resp, err := d.hc.Do(req)
		if err != nil {
			return
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok && strings.Contains(data, "tasks") {
				select {
				case changed <- struct{}{}:
				default:
				}
			}
		}
	}()
	seen := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", d.base+d.page, nil)
		req.Header.Set("X-UI-Fragment", "1")
		resp, err := d.hc.Do(req)
		if err != nil {
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if d.page == "/ui/tasks" {
			lat.observe(string(body), seen)
		}
	}
}
