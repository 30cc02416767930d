package ui

import (
	"bytes"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/model"
)

var pages = []string{"login", "fleet", "node", "services", "service", "tasks", "task", "queues", "topics", "functions", "function", "cluster"}

func parseTemplates() map[string]*template.Template {
	out := map[string]*template.Template{}
	for _, p := range pages {
		t := template.New("layout.html").Funcs(funcs)
		out[p] = template.Must(t.ParseFS(templateFS, "templates/layout.html", "templates/"+p+".html"))
	}
	return out
}

// page is what every template gets.
type page struct {
	Title  string
	Active string // nav path
	Live   string // kinds the live region shows ("" = not live)
	Viewer Viewer
	CSRF   string
	Nav    []struct{ Path, Title string }
	Data   any
	Flash  string
}

// render writes a page, or only its live region when the page's script
// asks for it (X-UI-Fragment), so live updates re-send one region.
func (u *UI) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	u.renderPage(w, r, status, name, &page{Data: data})
}

func (u *UI) renderPage(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	p.Nav = nav
	p.Flash = r.URL.Query().Get("flash")
	if len(p.Flash) > 300 {
		p.Flash = p.Flash[:300]
	}
	tmpl := "layout.html"
	if r.Header.Get("X-UI-Fragment") == "1" {
		tmpl = "live"
	}
	var buf bytes.Buffer
	if err := u.tmpl[name].ExecuteTemplate(&buf, tmpl, p); err != nil {
		u.log.Error("template", "page", name, "err", err)
		http.Error(w, "the dashboard hit a bug rendering this page; see the server log", http.StatusInternalServerError)
		return
	}
	writeHTML(w, status, buf.Bytes())
}

func writeHTML(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Vary", "X-UI-Fragment")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

var funcs = template.FuncMap{
	"pct": func(used, capacity int) int {
		if capacity <= 0 {
			return 0
		}
		return min(100, int(math.Round(float64(used)*100/float64(capacity))))
	},
	"short": func(id string) string {
		if len(id) > 8 {
			return id[:8]
		}
		return id
	},
	"ago": func(t any) string {
		var at time.Time
		switch v := t.(type) {
		case time.Time:
			at = v
		case *time.Time:
			if v == nil {
				return "—"
			}
			at = *v
		}
		if at.IsZero() {
			return "—"
		}
		return human(time.Since(at)) + " ago"
	},
	"stamp": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
	"mib":   func(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) },
	"lower": strings.ToLower,
	// queueName is the name at the end of a queue ARN.
	"queueName": func(arn string) string { return arn[strings.LastIndexByte(arn, ':')+1:] },
	// lastActivity is the newest scaling activity (they are kept oldest
	// first), nil for none.
	"lastActivity": func(as []model.ScalingActivity) *model.ScalingActivity {
		if len(as) == 0 {
			return nil
		}
		return &as[len(as)-1]
	},
	"newestFirst": func(as []model.ScalingActivity) []model.ScalingActivity {
		out := slices.Clone(as)
		slices.Reverse(out)
		return out
	},
	"deref": func(p *int) string {
		if p == nil {
			return "—"
		}
		return fmt.Sprint(*p)
	},
	"query": func(kv ...string) string {
		q := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] != "" {
				q.Set(kv[i], kv[i+1])
			}
		}
		return q.Encode()
	},
	"seconds": func(s int64) string { return human(time.Duration(s) * time.Second) },
}

func human(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
