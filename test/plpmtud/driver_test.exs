defmodule PLPMTUD.DriverTest do
  use ExUnit.Case, async: true

  alias PLPMTUD.{Driver, Responder, Socket, Wire}

  # A driver of a connected prober over a loopback socket to a responder;
  # the socket's messages come to the test process.
  defp driver(mode, config \\ []) do
    responder = start_supervised!({Responder, port: 0, ip: {127, 0, 0, 1}})
    {_ip, port} = Responder.address(responder)
    {:ok, prober} = PLPMTUD.new(Driver.prober_config(config, :inet))
    {:ok, socket} = Socket.open(0, connect: {{127, 0, 0, 1}, port}, df: :probe, active: true)
    _ = PLPMTUD.connected(prober, PLPMTUD.now_ms())
    Driver.new(prober, socket, mode, :inet)
  end

  # Sends, reads and ticks until the search completes (or 10 s pass).
  defp search(driver, give_up_at) do
    now = PLPMTUD.now_ms()

    if PLPMTUD.info(driver.prober).state == :search_complete or now > give_up_at do
      driver
    else
      {:ok, _events, driver} = Driver.send_due(driver, now)
      socket = driver.socket

      receive do
        {:plpmtud_udp, ^socket, _ip, _port, _data} = message ->
          {:ok, _events, driver} = Driver.handle_message(driver, message, PLPMTUD.now_ms())
          search(driver, give_up_at)
      after
        min(Driver.timeout(driver, now), 100) ->
          {:ok, _events, driver} = Driver.tick(driver, PLPMTUD.now_ms())
          search(driver, give_up_at)
      end
    end
  end

  test "the prober knows which probes are awaited; the driver keeps only its last 16" do
    # One size a round, so that the search sends more probes than the ring holds.
    driver = search(driver(:udp, probe_sizes: 1), PLPMTUD.now_ms() + 10_000)
    info = PLPMTUD.info(driver.prober)
    assert info.state == :search_complete
    assert info.stats.probes_sent > 16, inspect(info.stats)
    assert length(driver.probes) == 16
    assert info.in_flight == []
    assert driver.evidence == %{}
  end

  # What the network quotes of a datagram: the start of it, and of an echo
  # request a header the kernel filled in (identifier and checksum).
  defp as_quoted(:udp, datagram), do: binary_part(datagram, 0, min(byte_size(datagram), 200))

  defp as_quoted(:icmp, <<type, code, _sum::16, _ident::16, rest::binary>>),
    do: binary_part(<<type, code, 0xBEEF::16, 0x1234::16, rest::binary>>, 0, 200)

  for mode <- [:udp, :icmp] do
    test "#{mode}: a PTB is believed when it quotes a probe's bytes, not with another nonce" do
      mode = unquote(mode)
      driver = driver(mode)
      now = PLPMTUD.now_ms()
      {:ok, events, driver} = Driver.send_due(driver, now)
      assert [{nonce, size} | _] = for({:probe_sent, nonce, size} <- events, do: {nonce, size})
      mtu = div(size + PLPMTUD.base_size(driver.prober), 2)
      sizes = {size, size - driver.overhead}
      ptb = fn quoted -> {:plpmtud_ptb, driver.socket, %{mtu: mtu, quoted: quoted}} end

      forged = as_quoted(mode, Wire.probe(mode, :inet, Wire.nonce(), sizes))

      assert {:ok, [{:ptb, ^mtu, :unmatched}], driver} =
               Driver.handle_message(driver, ptb.(forged), now)

      assert {:ok, [{:ptb, ^mtu, :unmatched}], driver} =
               Driver.handle_message(driver, ptb.(<<>>), now)

      quoted = as_quoted(mode, Wire.probe(mode, :inet, nonce, sizes))

      assert {:ok, [{:ptb, ^mtu, :accepted} | _], _} =
               Driver.handle_message(driver, ptb.(quoted), now)

      assert PLPMTUD.info(driver.prober).stats.ptb_accepted == 1
    end
  end
end
