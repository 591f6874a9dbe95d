defmodule PLPMTUD.Responder do
  @moduledoc """
  Answers plpmtud probes: for each probe datagram it sends back a 20-byte
  acknowledgement carrying the probe's nonce and the number of bytes that
  arrived. The ack is never larger than the probe, and each source gets at
  most `:rate` answers per second (`:burst` at once), so the responder cannot
  be used to amplify traffic.

  Datagrams that are not probes (malformed, foreign, acks) and probes over
  the rate limit are counted in `stats/1` and dropped.

  ## Options

    * `:port` - UDP port (default 4821)
    * `:ip` - local address (default `{0, 0, 0, 0, 0, 0, 0, 0}`: IPv6 and IPv4, dual stack)
    * `:netns` - run the socket inside this network namespace (see `PLPMTUD.Socket.open/2`)
    * `:rate` - answers per source and second (default 500)
    * `:burst` - answers per source at once (default 128: two whole
      searches of plpmtud's driver, which sends each size 3 times and a
      sentinel after them, about 40 datagrams each; with less, answers
      dropped here look like lost probes and a search ends short). Each
      answer is 20 bytes: at most 10 KB/s towards any one address
    * `:name` - register the process under this name
  """

  use GenServer

  alias :plpmtud_nif, as: Native
  alias PLPMTUD.Socket
  alias PLPMTUD.Socket.Handover

  @default_port 4821

  @doc "The default port of the responder."
  @spec default_port() :: :inet.port_number()
  def default_port, do: @default_port

  @doc """
  Starts a responder linked to the caller. The socket is opened in the
  caller, so a port that cannot be opened (in use, privileged, a missing
  `:netns`, ...) returns `{:error, {:open_failed, reason}}` (such as
  `{:error, {:open_failed, :eaddrinuse}}`) and the caller lives on, trapping
  exits or not; under a supervisor it is a start failure. Unknown options
  raise `ArgumentError` in the caller.
  """
  @spec start_link(keyword()) :: GenServer.on_start()
  def start_link(options \\ []) do
    options =
      Keyword.validate!(options,
        name: nil,
        port: @default_port,
        ip: {0, 0, 0, 0, 0, 0, 0, 0},
        netns: nil,
        rate: 500,
        burst: 128
      )

    limiter = Native.rate_limiter_new(options[:rate], options[:burst])
    socket_options = [ip: options[:ip], netns: options[:netns], df: :dont, active: false]
    gen_options = if options[:name], do: [name: options[:name]], else: []

    case Socket.open(options[:port], socket_options) do
      {:ok, socket} ->
        Handover.start(socket, fn ->
          GenServer.start_link(__MODULE__, {socket, limiter}, gen_options)
        end)

      {:error, reason} ->
        {:error, {:open_failed, reason}}
    end
  end

  @doc "Counters: answered, rate_limited, and ignored datagrams by reason."
  @spec stats(GenServer.server()) :: %{atom() => non_neg_integer()}
  def stats(server), do: GenServer.call(server, :stats)

  @doc "The local `{ip, port}` the responder listens on."
  @spec address(GenServer.server()) :: {:inet.ip_address(), :inet.port_number()}
  def address(server), do: GenServer.call(server, :address)

  @impl GenServer
  def init({socket, limiter}) do
    {:ok, address} = Socket.sockname(socket)
    state = %{socket: socket, address: address, limiter: limiter, stats: %{answered: 0}}
    {:ok, state, {:continue, :take_socket}}
  end

  @impl GenServer
  def handle_continue(:take_socket, state) do
    case Handover.take(state.socket, true) do
      :ok -> {:noreply, state}
      {:error, reason} -> {:stop, {:no_socket, reason}, state}
    end
  end

  @impl GenServer
  def handle_call(:stats, _from, state), do: {:reply, state.stats, state}
  def handle_call(:address, _from, state), do: {:reply, state.address, state}

  @impl GenServer
  def handle_info({:plpmtud_udp, socket, ip, port, data}, %{socket: socket} = state) do
    {:noreply, count(state, answer(state, ip, port, data))}
  end

  def handle_info({:plpmtud_ptb, _socket, _report}, state), do: {:noreply, state}

  # A client that went away (port unreachable): nothing to do.
  def handle_info({:plpmtud_udp_error, _socket, _reason}, state), do: {:noreply, state}

  defp answer(state, ip, port, data) do
    with {:probe, nonce, _size} <- Native.wire_parse(data),
         true <- Native.rate_limiter_allow(state.limiter, PLPMTUD.now_ms(), ip) do
      case Socket.send_to(state.socket, ip, port, Native.wire_ack(nonce, byte_size(data))) do
        :ok -> :answered
        {:error, _} -> :send_failed
      end
    else
      {:ack, _, _} -> :ignored_ack
      {:error, reason} -> reason
      false -> :rate_limited
    end
  end

  defp count(state, key), do: update_in(state.stats, &Map.update(&1, key, 1, fn n -> n + 1 end))
end
