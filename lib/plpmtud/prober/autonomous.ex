defmodule PLPMTUD.Prober.Autonomous do
  @moduledoc """
  The source of a `PLPMTUD.Prober` given a `:peer`: a DF socket of its
  own towards the peer, opened in the caller and handed over to the
  prober, driven by `PLPMTUD.Driver` (probes to a `PLPMTUD.Responder` or
  ICMP echo, answers, ICMP errors, heartbeats). Its state is the driver;
  its handle works in IP bytes (`PLPMTUD.Driver.prober_config/2`).

  With `cache: true` it starts from the node-wide `PLPMTUD.Cache` entry of
  the peer's address and records what it learns there (the prober looks
  up and records under the `:cache_peer` this source's `prepare/1` sets).

  A send that fails with `:closed` (the socket was closed under the
  prober) ends the prober with `{:shutdown, :socket_closed}`.
  """

  use PLPMTUD.Prober.Source

  alias PLPMTUD.{Driver, Socket}
  alias PLPMTUD.Socket.Handover

  @impl PLPMTUD.Prober.Source
  def prepare(options) do
    peer = options[:peer]

    unless peer?(peer) do
      raise ArgumentError,
            ":peer must be {host, port} with a port in 0..65535, got: #{inspect(peer)}"
    end

    {host, port} = peer
    config = options[:config]

    # The peer's address, resolved in the family of the `:config` or the
    # `:socket_options`, else of the address (a host name: IPv4).
    family =
      Map.new(config)[:family] || options[:socket_options][:family] ||
        Socket.family_of(host) || :inet

    with {:ok, ip} <- Socket.resolve(host, family) do
      family = Socket.family_of(ip)

      # The cache's key: its handle works in IP bytes, as the cache does.
      {:ok,
       Keyword.merge(options,
         peer: {ip, port},
         family: family,
         config: Driver.prober_config(config, family),
         cache_peer: if(options[:cache], do: ip)
       )}
    end
  end

  defp peer?({host, port}) when is_integer(port) and port in 0..65_535,
    do: is_tuple(host) or is_binary(host) or is_list(host) or is_atom(host)

  defp peer?(_), do: false

  # Opened passive in the caller; the new process takes it (see init/2).
  @impl PLPMTUD.Prober.Source
  def start(options, start) do
    {ip, port} = options[:peer]
    mode = options[:mode]
    transport = if mode == :icmp, do: :icmp_echo, else: :udp
    port = if mode == :icmp, do: 0, else: port

    socket_options =
      Keyword.merge(
        [connect: {ip, port}, df: :probe, active: true, transport: transport],
        options[:socket_options]
      )

    with {:ok, socket} <- Socket.open(0, Keyword.put(socket_options, :active, false)) do
      options = Keyword.merge(options, socket: socket, active: socket_options[:active])
      Handover.start(socket, fn -> start.(options) end)
    end
  end

  @impl PLPMTUD.Prober.Source
  def init(handle, options) do
    socket = options[:socket]

    case Handover.take(socket, options[:active]) do
      :ok ->
        {:ok, Driver.new(handle, socket, options[:mode], options[:family], options[:heartbeat])}

      {:error, reason} ->
        Socket.close(socket)
        {:error, {:no_socket, reason}}
    end
  end

  @impl PLPMTUD.Prober.Source
  def send_due(driver, _handle, now), do: Driver.send_due(driver, now)

  # Nothing is sent again before `retry_at`: the heartbeat waits as well,
  # or the timer would fire for it at once.
  @impl PLPMTUD.Prober.Source
  def send_failed(driver, :closed, _retry_at), do: {:stop, {:shutdown, :socket_closed}, driver}
  def send_failed(driver, _reason, retry_at), do: {:retry, Driver.defer(driver, retry_at)}

  @impl PLPMTUD.Prober.Source
  def handle_info(message, driver, now), do: Driver.handle_message(driver, message, now)

  @impl PLPMTUD.Prober.Source
  def tick(driver, _handle, now), do: Driver.tick(driver, now)

  @impl PLPMTUD.Prober.Source
  def timeout(driver, _handle, now), do: Driver.timeout(driver, now)

  # The driver's own bookkeeping stays here; it sends the due probes.
  @impl PLPMTUD.Prober.Source
  def news?({:probe_due, _size}), do: false
  def news?({:probe_sent, _id, _size}), do: false
  def news?({tag, _}) when tag in [:heartbeat_acked, :heartbeat_lost, :ignored], do: false
  def news?(_event), do: true

  @impl PLPMTUD.Prober.Source
  def terminate(_reason, %Driver{socket: socket}), do: Socket.close(socket)
  def terminate(_reason, nil), do: :ok
end
