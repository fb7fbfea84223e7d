package inmem_test

import (
	"testing"

	"github.com/parleychat/parley"
	"github.com/parleychat/parley/inmem"
	"github.com/parleychat/parley/parleytest"
)

func TestBroker(t *testing.T) {
	bus := inmem.NewBus()
	parleytest.BrokerSuite(t, func(t *testing.T) parley.Broker { return bus.Broker() })
}
