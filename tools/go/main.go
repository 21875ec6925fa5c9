// SPDX-License-Identifier: AGPL-3.0-or-later

// A Go client of enclaved built only from Debian's packages (golang-go,
// golang-google-protobuf-dev, protoc-gen-go), offline: it frames protobuf
// messages generated from proto/enclaved.proto by protoc-gen-go, asks for
// the server's info, starts an echo app, opens a raw channel, sends one
// message and prints the echo. The NK channels need a Noise library, which
// this example leaves out; see the C and Python clients for them.
//
// usage: enclaved-go-example HOST:PORT
package main

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"google.golang.org/protobuf/proto"

	pb "enclaved.example/enclavedpb"
)

const maxFrame = 64 << 20

type conn struct {
	c      net.Conn
	nextID uint64
}

func (k *conn) send(f *pb.ClientFrame) error {
	body, err := proto.Marshal(f)
	if err != nil {
		return err
	}
	buf := make([]byte, 4+len(body))
	binary.BigEndian.PutUint32(buf, uint32(len(body)))
	copy(buf[4:], body)
	_, err = k.c.Write(buf)
	return err
}

func (k *conn) read() (*pb.ServerFrame, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(k.c, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 || n > maxFrame {
		return nil, fmt.Errorf("bad frame length %d", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(k.c, body); err != nil {
		return nil, err
	}
	f := &pb.ServerFrame{}
	return f, proto.Unmarshal(body, f)
}

// call sends one request and returns its response; this example has one
// request in flight at a time, so the next response frame is the answer.
func (k *conn) call(req *pb.Request) (*pb.Response, error) {
	k.nextID++
	req.Id = k.nextID
	if err := k.send(&pb.ClientFrame{Kind: &pb.ClientFrame_Request{Request: req}}); err != nil {
		return nil, err
	}
	for {
		f, err := k.read()
		if err != nil {
			return nil, err
		}
		if r := f.GetResponse(); r != nil && r.Id == req.Id {
			if r.Status != pb.Status_OK {
				return nil, fmt.Errorf("%s (%d): %s", r.Status, int32(r.Status), r.Message)
			}
			return r, nil
		}
	}
}

func run(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	k := &conn{c: c}

	r, err := k.call(&pb.Request{Body: &pb.Request_GetInfo{GetInfo: &pb.GetInfo{}}})
	if err != nil {
		return err
	}
	info := r.GetInfo()
	fmt.Printf("server %s protocol %d key %s\n", info.ServerVersion, info.ProtocolVersion,
		hex.EncodeToString(info.PublicKey))

	src := []byte("function HandleChannelMessage(cid, msg) return {{cid, msg}} end\n")
	r, err = k.call(&pb.Request{Body: &pb.Request_ProcessCreate{
		ProcessCreate: &pb.ProcessCreate{LuaSource: src, Name: "go-echo"}}})
	if err != nil {
		return err
	}
	pid := r.GetProcessCreated().ProcessId
	r, err = k.call(&pb.Request{Body: &pb.Request_ChannelOpen{ChannelOpen: &pb.ChannelOpen{
		Target: &pb.ChannelOpen_ProcessId{ProcessId: pid}, Type: pb.ChannelType_RAW}}})
	if err != nil {
		return err
	}
	cid := r.GetChannelOpened().ChannelId
	msg := []byte("hello from go")
	err = k.send(&pb.ClientFrame{Kind: &pb.ClientFrame_ChannelData{
		ChannelData: &pb.ChannelData{ChannelId: cid, Data: msg}}})
	if err != nil {
		return err
	}
	for {
		f, err := k.read()
		if err != nil {
			return err
		}
		if d := f.GetChannelData(); d != nil && d.ChannelId == cid {
			fmt.Printf("echo %s\n", d.Data)
			break
		}
	}
	_, err = k.call(&pb.Request{Body: &pb.Request_ProcessDestroy{ProcessDestroy: &pb.ProcessDestroy{
		Target: &pb.ProcessDestroy_ProcessId{ProcessId: pid}}}})
	return err
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: enclaved-go-example HOST:PORT")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "enclaved-go-example:", err)
		os.Exit(1)
	}
}
