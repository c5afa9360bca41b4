package web

import (
	_ "embed"
	"net/http"
)

// openAPIDoc describes the whole /api/v1 API (OpenAPI 3). It holds no
// data, so it is served without authentication.
//
//go:embed openapi.json
var openAPIDoc []byte

func (s *Server) handleOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(openAPIDoc)
}
