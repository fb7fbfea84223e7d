package web

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
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

// staticFiles lists every embedded file as name (relative to static/) →
// content.
func staticFiles(tb testing.TB) map[string]string {
	tb.Helper()
	out := map[string]string{}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := static.ReadFile(p)
		out[strings.TrimPrefix(p, "static/")] = string(data)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func routeOf(name string) string {
	if name == "index.html" {
		return "/"
	}
	return "/" + name
}

func TestHandlerServesFiles(t *testing.T) {
	h := Handler()
	for _, tc := range []struct {
		path, contentType, contains string
	}{
		{"/", "text/html; charset=utf-8", `<script type="module" src="/js/main.js">`},
		{"/js/main.js", "text/javascript; charset=utf-8", "conn.configure"},
		{"/js/conn.js", "text/javascript; charset=utf-8", "parley.v1"},
		{"/style.css", "text/css; charset=utf-8", "prefers-color-scheme"},
		{"/icon.svg", "image/svg+xml", "<svg"},
	} {
		res := get(t, h, tc.path, nil)
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d, want 200", tc.path, res.StatusCode)
			continue
		}
		if ct := res.Header.Get("Content-Type"); ct != tc.contentType {
			t.Errorf("GET %s: Content-Type %q, want %q", tc.path, ct, tc.contentType)
		}
		if cc := res.Header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q, want no-cache", tc.path, cc)
		}
		if !strings.Contains(string(body), tc.contains) {
			t.Errorf("GET %s: body lacks %q", tc.path, tc.contains)
		}
	}
}

// Every file the page is made of is served, byte for byte, with a type a
// browser accepts for it (a module script must be JavaScript).
func TestHandlerServesEveryFile(t *testing.T) {
	h := Handler()
	files := staticFiles(t)
	if len(files) < 5 {
		t.Fatalf("only %d embedded files", len(files))
	}
	for name, content := range files {
		res := get(t, h, routeOf(name), nil)
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK || string(body) != content {
			t.Errorf("GET %s: status %d, %d bytes; want 200 and the file (%d bytes)", routeOf(name), res.StatusCode, len(body), len(content))
		}
		if want := contentTypes[path.Ext(name)]; want == "" || res.Header.Get("Content-Type") != want {
			t.Errorf("GET %s: Content-Type %q, want %q", routeOf(name), res.Header.Get("Content-Type"), want)
		}
	}
}

func TestHandlerNotFound(t *testing.T) {
	h := Handler()
	for _, path := range []string{"/nope", "/index.html", "/app.js", "/static/js/main.js", "/js/", "/js", "/js/main.js/",
		"/js/nope.js", "/../web.go", "/style.css/x"} {
		if res := get(t, h, path, nil); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", path, res.StatusCode)
		}
	}
}

// A reload revalidates (no-cache) and costs a 304 when nothing changed.
func TestHandlerRevalidates(t *testing.T) {
	h := Handler()
	for name := range staticFiles(t) {
		p := routeOf(name)
		etag := get(t, h, p, nil).Header.Get("ETag")
		if etag == "" {
			t.Errorf("GET %s: no ETag", p)
			continue
		}
		res := get(t, h, p, http.Header{"If-None-Match": {etag}})
		if res.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with If-None-Match %s: status %d, want 304", p, etag, res.StatusCode)
		}
	}
}

// The server's Content-Security-Policy (default-src 'none'; script-src
// 'self'; style-src 'self'; ...) blocks inline script and style and every
// other origin, so anything of the kind in a served file would silently
// not work; and user text must reach the DOM as text, never as markup.
// Each served file is checked for what its type can carry.
func TestFilesFitCSP(t *testing.T) {
	markup := []struct{ re, why string }{
		{`(?i)<style\b`, "a <style> element"},
		{`(?i)\sstyle\s*=`, "a style= attribute"},
		{`(?i)\son[a-z]+\s*=`, "an inline event handler"},
		{`(?i)javascript:`, "a javascript: URL"},
		{`(?i)(src|href|action)\s*=\s*["']?(https?:)?//`, "an external resource"},
	}
	script := []struct{ re, why string }{
		{`\binnerHTML\b`, "innerHTML"},
		{`\bouterHTML\b`, "outerHTML"},
		{`\binsertAdjacentHTML\b`, "insertAdjacentHTML"},
		{`\bdocument\.write`, "document.write"},
		{`\beval\s*\(`, "eval"},
		{`\bnew\s+Function\b`, "new Function"},
		{`\bset(Timeout|Interval)\s*\(\s*["'\x60]`, "a timer with a string of code"},
		{`\bcreateContextualFragment\b`, "createContextualFragment"},
		{`\bDOMParser\b`, "DOMParser"},
		{`setAttribute\(\s*["']style["']`, "a style attribute (blocked by style-src)"},
		{`setAttribute\(\s*["']on`, "an event-handler attribute"},
		{`\.srcdoc\b`, "srcdoc"},
		{`(?i)["'\x60]javascript:`, "a javascript: URL"},
		{`(?i)(import|from)\s*\(?\s*["'\x60](https?:)?//`, "a module from elsewhere"},
		{`(?i)new\s+WebSocket\(\s*["'\x60]wss?://`, "a WebSocket to a fixed host (connect-src 'self')"},
	}
	style := []struct{ re, why string }{
		{`(?i)@import`, "an @import"},
		{`(?i)url\(\s*["']?(https?:)?//`, "an external url()"},
		{`(?i)expression\s*\(`, "a CSS expression"},
	}
	files := staticFiles(t)
	for name, content := range files {
		var rules []struct{ re, why string }
		switch path.Ext(name) {
		case ".html":
			rules = markup
			scripts := regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script\s*>`).FindAllStringSubmatch(content, -1)
			if name == "index.html" && len(scripts) == 0 {
				t.Error("index.html loads no script")
			}
			for _, m := range scripts {
				if !strings.Contains(m[1], "src=") || strings.TrimSpace(m[2]) != "" {
					t.Errorf("%s: inline script: %s", name, m[0])
				}
			}
		case ".js":
			rules = script
		case ".css":
			rules = style
		case ".svg":
			rules = append(markup, struct{ re, why string }{`(?i)<script\b`, "a script"})
		default:
			t.Errorf("%s: a file of a type the handler doesn't serve", name)
		}
		for _, bad := range rules {
			if loc := regexp.MustCompile(bad.re).FindStringIndex(content); loc != nil {
				t.Errorf("%s has %s: %q", name, bad.why, content[max(0, loc[0]-20):min(loc[1]+40, len(content))])
			}
		}
	}
}

var importRE = regexp.MustCompile(`(?m)^import\s+(?:\{([^}]*)\}|\*\s+as\s+\w+)\s+from\s+"([^"]+)";`)

// The modules import each other by relative path, with named imports;
// a typo in either would only show in a browser, so check both here.
func TestModuleImportsResolve(t *testing.T) {
	files := staticFiles(t)
	html := files["index.html"]
	entry := regexp.MustCompile(`<script type="module" src="/([^"]+)"`).FindStringSubmatch(html)
	if entry == nil {
		t.Fatal("index.html loads no module")
	}
	seen := map[string]bool{}
	queue := []string{entry[1]}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if seen[name] {
			continue
		}
		seen[name] = true
		src, ok := files[name]
		if !ok {
			t.Errorf("%s is imported but not embedded", name)
			continue
		}
		for _, m := range importRE.FindAllStringSubmatch(src, -1) {
			if !strings.HasPrefix(m[2], "./") {
				t.Errorf("%s imports %q; use a relative path to an embedded module", name, m[2])
				continue
			}
			dep := path.Join(path.Dir(name), m[2])
			queue = append(queue, dep)
			for _, n := range strings.Split(m[1], ",") {
				n = strings.TrimSpace(strings.SplitN(strings.TrimSpace(n), " as ", 2)[0])
				if n == "" {
					continue
				}
				exported := regexp.MustCompile(`(?m)^export\s+(async\s+)?(function\*?|const|let|class)\s+` + regexp.QuoteMeta(n) + `([^\w$]|$)`)
				if !exported.MatchString(files[dep]) {
					t.Errorf("%s imports %s from %s, which doesn't export it", name, n, dep)
				}
			}
		}
	}
	for name := range files {
		if strings.HasSuffix(name, ".js") && !seen[name] {
			t.Errorf("%s is embedded but no module imports it", name)
		}
	}
}

// The page checks names before connecting, because a refused upgrade tells
// it nothing; its rule must be the server's.
func TestNameRuleMatchesServer(t *testing.T) {
	m := regexp.MustCompile(`export const NAME_RE = /(.+)/;`).FindStringSubmatch(staticFiles(t)["js/auth.js"])
	if m == nil {
		t.Fatal("js/auth.js has no NAME_RE")
	}
	re := regexp.MustCompile(m[1])
	for _, name := range []string{"alice", "Bob_2", "a.b-c", "x", strings.Repeat("n", 32), strings.Repeat("n", 33), "", "has space", "émile", "<b>", "a/b", "ali\nce"} {
		if got, want := re.MatchString(name), parley.ValidateUserName(name) == nil; got != want {
			t.Errorf("name %q: page accepts %v, server accepts %v", name, got, want)
		}
	}
}

// Every module parses as the browser will parse it: as a module.
func TestModulesParse(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed (the browser tests in cmd/parley load the modules for real)")
	}
	dir := t.TempDir()
	var names []string
	for name, content := range staticFiles(t) {
		if !strings.HasSuffix(name, ".js") {
			continue
		}
		// --check on a .mjs file parses it as a module.
		f := filepath.Join(dir, strings.ReplaceAll(strings.TrimSuffix(name, ".js"), "/", "_")+".mjs")
		if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
		if out, err := exec.Command(node, "--check", f).CombinedOutput(); err != nil {
			t.Errorf("node --check %s: %v\n%s", name, err, out)
		}
	}
	slices.Sort(names)
	if len(names) < 5 {
		t.Errorf("only %d modules: %v", len(names), names)
	}
}
