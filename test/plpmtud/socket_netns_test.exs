defmodule PLPMTUD.SocketNetnsTest do
  use ExUnit.Case, async: false

  alias PLPMTUD.Socket
  alias PLPMTUD.Test.Lab

  @moduletag :netns

  @port 7001

  defp open_pair(ns, server_ip, df) do
    {:ok, server} = Socket.open(@port, ip: server_ip, netns: ns.server)
    {:ok, client} = Socket.open(0, netns: ns.client, connect: {server_ip, @port}, df: df)
    on_exit(fn -> Enum.each([server, client], &Socket.close/1) end)
    {client, server}
  end

  defp payload(ip_size, ip), do: :binary.copy("p", ip_size - header(ip))
  defp header({_, _, _, _}), do: 28
  defp header(_v6), do: 48

  for {family, server_key, r1_key} <- [{"ipv4", :server4, :r1_4}, {"ipv6", :server6, :r1_6}] do
    test "#{family}: routers' Packet-Too-Big reach the error queue, EMSGSIZE and path_mtu follow" do
      ns = Lab.up!("plt#{unquote(family)}")
      server_ip = Lab.addresses()[unquote(server_key)]
      r1 = Lab.addresses()[unquote(r1_key)]
      {client, server} = open_pair(ns, server_ip, :do)

      # 1400 bytes pass the client's 1500 link and die at r1 (1370).
      assert :ok = Socket.send(client, payload(1400, server_ip))
      assert_receive {:plpmtud_ptb, ^client, %{mtu: 1370, offender: ^r1} = ptb}, 2000
      assert ptb.dest == {server_ip, @port}
      assert "ppp" <> _ = ptb.quoted

      # 1360 bytes pass r1 and die at r2 (1350).
      assert :ok = Socket.send(client, payload(1360, server_ip))
      assert_receive {:plpmtud_ptb, ^client, %{mtu: 1350}}, 2000

      assert {:error, {:emsgsize, 1350}} = Socket.send(client, payload(1400, server_ip))
      assert {:ok, 1350} = Socket.path_mtu(client)

      # 1350 bytes arrive.
      assert :ok = Socket.send(client, payload(1350, server_ip))
      assert_receive {:plpmtud_udp, ^server, _, _, data}, 2000
      assert byte_size(data) == 1350 - header(server_ip)

      # In probe mode the kernel's cached 1350 does not stop a bigger probe.
      assert :ok = Socket.set_df(client, :probe)
      assert :ok = Socket.send(client, payload(1400, server_ip))
      refute_receive {:plpmtud_udp, ^server, _, _, _}, 200
    end
  end

  test "in a black hole the oversized datagram vanishes without any report" do
    ns = Lab.up!("pltbh", "blackhole")
    server_ip = Lab.addresses().server4
    {client, server} = open_pair(ns, server_ip, :do)
    assert :ok = Socket.send(client, payload(1400, server_ip))
    refute_receive {:plpmtud_ptb, ^client, _}, 300
    refute_receive {:plpmtud_udp, ^server, _, _, _}, 10
    assert {:ok, 1500} = Socket.path_mtu(client)
    assert :ok = Socket.send(client, payload(1350, server_ip))
    assert_receive {:plpmtud_udp, ^server, _, _, _}, 2000
  end
end
