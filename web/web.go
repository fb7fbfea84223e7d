package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// contentTypes are the types of the files the page is made of. Set here
// rather than guessed: mime.TypeByExtension reads the system's tables, and
// a module script served as anything but JavaScript does not run.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// file is one embedded file, read once.
type file struct {
	data        []byte
	contentType string
	etag        string
}

// routes maps each served path to its file: "/" is index.html, every
// other file in static/ is served at its own path (/style.css,
// /js/main.js). Files of a type not in contentTypes are not served.
func routes() map[string]file {
	out := map[string]file{}
	// The files are embedded, so walking and reading them cannot fail; a
	// missing directory would have failed the build.
	fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			return nil
		}
		data, _ := static.ReadFile(p)
		sum := sha256.Sum256(data)
		route := strings.TrimPrefix(p, "static")
		if route == "/index.html" {
			route = "/"
		}
		out[route] = file{data: data, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	return out
}

// Handler serves the chat page: / (index.html) and the files it loads
// (/style.css, /icon.svg, /js/*.js), each with its Content-Type, and 404
// for any other path. Every response says Cache-Control: no-cache and
// carries an ETag of the file's content, so a browser revalidates on each
// load (a 304 when nothing changed) and picks up a new server's page at
// once; the modules import each other by path, so they must never mix
// versions.
func Handler() http.Handler {
	files := routes()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := files[r.URL.Path]
		if !ok {
			// Only the listed paths: no /index.html, no directory listing.
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", f.contentType)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", f.etag) // http.ServeContent answers If-None-Match with it
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.data))
	})
}
