package main

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"":                                      "",
		"postgres://parley:S3cret@db:5432/chat": "postgres://parley:xxxxx@db:5432/chat",
		"postgres://db/chat":                    "postgres://db/chat",
		"redis://:S3cret@redis:6379/0":          "redis://:xxxxx@redis:6379/0",
		"postgres://parley:p@ss@db/chat":        "postgres://parley:xxxxx@db/chat",
		"postgres://parley:pa/ss@db/chat":       "postgres://parley:xxxxx@db/chat",
		"postgres://db/chat?sslmode=require&password=S3cret&x=1":            "postgres://db/chat?sslmode=require&password=xxxxx&x=1",
		"postgres://db/chat?sslpassword=S3cret":                             "postgres://db/chat?sslpassword=xxxxx",
		"postgres://parley:S3cret@db:5432/chat?application_name=ops@laptop": "postgres://parley:xxxxx@db:5432/chat?application_name=ops@laptop",
		"postgres://parley:S3cret@[2001:db8::1]:5432/chat":                  "postgres://parley:xxxxx@[2001:db8::1]:5432/chat",
		"host=db user=parley password=S3cret dbname=chat":                   "(not a URL, not shown)",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestBadStoreAndBrokerKeepSecrets: the errors for a --store or --broker
// that can't be used name the problem, never the password.
func TestBadStoreAndBrokerKeepSecrets(t *testing.T) {
	const secret = "S3cretPass"
	_, err := openStore(context.Background(), "host=db user=parley password="+secret, t.TempDir(), nil)
	if !errors.Is(err, errUsage) || strings.Contains(err.Error(), secret) {
		t.Errorf("--store as key=value: %v; want a usage error without the password", err)
	}
	_, err = openBroker("redis://:"+secret+"@redis-host:63x79/0", nil)
	if err == nil || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "port") {
		t.Errorf("--broker with a bad port: %v; want an error naming the port, without the password", err)
	}
}
