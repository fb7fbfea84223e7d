package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// routes maps each served path to its file in static/; any other path is 404.
var routes = map[string]string{
	"/":          "index.html",
	"/app.js":    "app.js",
	"/style.css": "style.css",
}

// Handler serves the chat page: / (index.html), /app.js and /style.css, with
// their Content-Type, and 404 for any other path. Every response says
// Cache-Control: no-cache and carries an ETag of the file's content, so a
// browser revalidates on each load (a 304 when nothing changed) and picks up
// a new server's page at once.
func Handler() http.Handler {
	files, err := fs.Sub(static, "static")
	if err != nil {
		// fs.Sub fails only for an invalid path, and "static" is a valid
		// constant one: unreachable.
		panic("web: " + err.Error())
	}
	etags := make(map[string]string, len(routes))
	for path, name := range routes {
		// The files are embedded, so reading them cannot fail; a missing one
		// would have failed the build (and TestHandlerServesFiles).
		data, _ := fs.ReadFile(files, name)
		sum := sha256.Sum256(data)
		etags[path] = `"` + hex.EncodeToString(sum[:8]) + `"`
	}
	fileServer := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		etag, ok := etags[r.URL.Path]
		if !ok {
			// Only the listed paths: no /index.html redirect, no listing.
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", etag) // http.ServeContent answers If-None-Match with it
		fileServer.ServeHTTP(w, r)
	})
}
