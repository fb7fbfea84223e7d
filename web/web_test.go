package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/parleychat/parley"
)

func get(tb testing.TB, h http.Handler, path string, header http.Header) *http.Response {
	tb.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func TestHandlerServesFiles(t *testing.T) {
	h := Handler()
	for _, tc := range []struct {
		path, contentType, contains string
	}{
		{"/", "text/html", `<script type="module" src="/app.js">`},
		{"/app.js", "text/javascript", "parley.v1"},
		{"/style.css", "text/css", "prefers-color-scheme"},
	} {
		res := get(t, h, tc.path, nil)
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d, want 200", tc.path, res.StatusCode)
			continue
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, tc.contentType) {
			t.Errorf("GET %s: Content-Type %q, want %s", tc.path, ct, tc.contentType)
		}
		if cc := res.Header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q, want no-cache", tc.path, cc)
		}
		if !strings.Contains(string(body), tc.contains) {
			t.Errorf("GET %s: body lacks %q", tc.path, tc.contains)
		}
	}
}

func TestHandlerNotFound(t *testing.T) {
	h := Handler()
	for _, path := range []string{"/nope", "/index.html", "/static/app.js", "/app.js/", "/../web.go"} {
		if res := get(t, h, path, nil); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", path, res.StatusCode)
		}
	}
}

// A reload revalidates (no-cache) and costs a 304 when nothing changed.
func TestHandlerRevalidates(t *testing.T) {
	h := Handler()
	for _, path := range []string{"/", "/app.js", "/style.css"} {
		etag := get(t, h, path, nil).Header.Get("ETag")
		if etag == "" {
			t.Errorf("GET %s: no ETag", path)
			continue
		}
		res := get(t, h, path, http.Header{"If-None-Match": {etag}})
		if res.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with If-None-Match %s: status %d, want 304", path, etag, res.StatusCode)
		}
	}
}

func readStatic(tb testing.TB, name string) string {
	tb.Helper()
	data, err := static.ReadFile("static/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	return string(data)
}

// The server's Content-Security-Policy blocks inline script and style, so
// anything inline in index.html would silently not run.
func TestIndexFitsCSP(t *testing.T) {
	html := readStatic(t, "index.html")
	scripts := regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script\s*>`).FindAllStringSubmatch(html, -1)
	if len(scripts) == 0 {
		t.Error("index.html loads no script")
	}
	for _, m := range scripts {
		if !strings.Contains(m[1], "src=") || strings.TrimSpace(m[2]) != "" {
			t.Errorf("inline script: %s", m[0])
		}
	}
	for _, bad := range []struct{ re, why string }{
		{`(?i)<style\b`, "a <style> element"},
		{`(?i)\sstyle\s*=`, "a style= attribute"},
		{`(?i)\son[a-z]+\s*=`, "an inline event handler"},
		{`(?i)javascript:`, "a javascript: URL"},
		{`(?i)(src|href)\s*=\s*["']?(https?:)?//`, "an external resource"},
	} {
		if loc := regexp.MustCompile(bad.re).FindStringIndex(html); loc != nil {
			t.Errorf("index.html has %s: %q", bad.why, html[loc[0]:min(loc[1]+40, len(html))])
		}
	}
}

// User text must reach the DOM as text, and eval is blocked by the CSP.
func TestAppAvoidsUnsafeSinks(t *testing.T) {
	js := readStatic(t, "app.js")
	for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
		if strings.Contains(js, sink) {
			t.Errorf("app.js uses %s", sink)
		}
	}
}

// The page checks names before connecting, because a refused upgrade tells
// it nothing; its rule must be the server's.
func TestAppNameRuleMatchesServer(t *testing.T) {
	m := regexp.MustCompile(`const NAME_RE = /(.+)/;`).FindStringSubmatch(readStatic(t, "app.js"))
	if m == nil {
		t.Fatal("app.js has no NAME_RE")
	}
	re := regexp.MustCompile(m[1])
	for _, name := range []string{"alice", "Bob_2", "a.b-c", "x", strings.Repeat("n", 32), strings.Repeat("n", 33), "", "has space", "émile", "<b>", "a/b", "ali\nce"} {
		if got, want := re.MatchString(name), parley.ValidateUserName(name) == nil; got != want {
			t.Errorf("name %q: page accepts %v, server accepts %v", name, got, want)
		}
	}
}

func TestAppParses(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	f, err := os.CreateTemp(t.TempDir(), "app-*.mjs")
	if err != nil {
		t.Fatal(err)
	}
	// --check on a .mjs file parses it as the browser will: as a module.
	if _, err := f.WriteString(readStatic(t, "app.js")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if out, err := exec.Command(node, "--check", f.Name()).CombinedOutput(); err != nil {
		t.Fatalf("node --check app.js: %v\n%s", err, out)
	}
}
