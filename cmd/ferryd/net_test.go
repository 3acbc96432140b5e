package main

import (
	"net"
)

func listenLoopback() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}
