package main

import (
	"os"
	"testing"

	"github.com/parleychat/parley/parleytest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	parleytest.StopServers() // the shared PostgreSQL server, if a test started one
	os.Exit(code)
}
