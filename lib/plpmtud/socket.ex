defmodule PLPMTUD.Socket do
  @moduledoc """
  A UDP socket with Don't-Fragment, the kernel's path MTU, ICMP
  Packet-Too-Big reports and batched sends, implemented in Rust.

  Like gen_udp, a socket belongs to its controlling process (the opener, or
  whoever `controlling_process/2` names): it receives the socket's messages,
  and the socket closes when that process exits. A socket also closes with
  `close/1`; dropping the last reference without either keeps it open, as
  with gen_udp. The socket's reader process (see "How it receives") is
  linked to the controlling process as gen_udp's port is: if it is killed,
  the socket closes and the owner gets the exit signal (`{:EXIT, reader,
  reason}` when it traps exits); `close/1` and the owner's own exit send
  none. The reader's group leader is `:user`'s, so stopping the
  application of the process that opened the socket leaves it alone.

  Messages to the controlling process:

    * `{:plpmtud_udp, socket, ip, port, data}` - a datagram (active modes);
    * `{:plpmtud_udp_batch, socket, [{ip, port, data}]}` - with `batch: true`,
      the datagrams of one `recvmmsg` (up to 32) in one message, in order;
    * `{:plpmtud_udp_passive, socket}` - an `active: n` count ran out;
    * `{:plpmtud_ptb, socket, %{mtu: m, offender: ip | nil, dest: {ip, port} | nil, quoted: binary}}`
      - an ICMP Fragmentation-Needed / Packet-Too-Big for one of our datagrams,
      read from the socket's error queue, whatever the active mode (within
      the backlog bound below). `quoted` is the start of our own datagram,
      so a prober can match it to a probe;
    * `{:plpmtud_udp_error, socket, reason}` - any other ICMP error for one of
      our datagrams, as a POSIX atom (`:econnrefused` for port unreachable,
      `:ehostunreach`, ...), in active modes only, like gen_udp's
      `{:udp_error, socket, reason}`; it does not count against `:once` or
      `active: n`. In passive mode, and for local errors, error-queue
      entries are counted in `stats/1` (`errors_dropped`) and dropped.

  ## Backlog bound

  The socket's messages that the controlling process has not taken yet
  hold at most the socket's backlog bound (the `:backlog` option of
  `open/2`, default 4 MiB) plus one datagram
  (64 KiB) in its mailbox, in every active mode and with `batch: true`
  too: each message is charged its data plus 320 bytes (a datagram), 128
  per datagram of a batch, or 512 plus the quoted bytes (an ICMP report),
  more than it costs in the BEAM. The reader process keeps an upper bound
  of what is still queued (from what it sent and the owner's
  `message_queue_len`) and stops reading while the bound is reached.
  Datagrams then wait in the kernel's receive buffer (which drops the
  excess when full, as it does for gen_udp); ICMP reports wait in a table
  of the socket holding the latest report per destination and kind, at
  most 16 (about 5 KB), and those replaced or refused are counted in
  `stats/1` (`reports_dropped`). A forged-ICMP or datagram flood thus
  costs a socket at most about 4.1 MiB of BEAM memory with the default,
  whether its owner reads or not.

  DF policies: `:probe` (DF set, the kernel's PMTU cache ignored: probes above
  a cached size still leave; Linux only), `:do` (DF set; sends above the
  kernel's PMTU fail with `{:error, {:emsgsize, mtu}}`), `:want`, `:dont`
  (the kernel may fragment). On BSD/macOS only `:do` and `:dont` exist; the
  others return `{:error, :enotsup}`.

  ## How it receives

  No OS thread per socket, and one descriptor per socket: the socket's fd
  waits in the BEAM's own poll set (`enif_select`), like OTP's `socket`
  module. Its readiness messages (`{:select, resource, ref, :ready_input |
  :ready_error}`) cannot go to the controlling process, whose mailbox this
  module does not own, so each socket has a small reader process (a BEAM
  process, a few hundred words, like a port). On readiness the reader
  calls a NIF that reads up to 32 datagrams per `recvmmsg` and at most
  128 per call (its time reported to the scheduler), sends the
  gen_udp-shaped messages above straight to the controlling process and
  asks for the next readiness; when the call stopped at its budget with
  datagrams still queued, the reader calls again instead (after the
  scheduler's other work), so a busy socket does not wait for the poll set
  between batches. While the owner's backlog is at its bound (see above),
  the reader waits, measuring the owner's mailbox again after a yield,
  then after 1, 2, 4 ... up to 200 ms (waits aligned in time, so that
  paused readers wake together: 100 paused readers cost under 1 % of a
  core), and re-reads who the owner is each time. ICMP errors are read
  from the error queue (`MSG_ERRQUEUE`) on the same fd when the poll set
  reports it in error, in every active mode. `close/1` takes the fd out
  of the poll set and closes it at once (in the resource's `stop`
  callback); the reader then ends. `recv/2` reads a queued datagram at once on the caller's
  scheduler; when none is queued the caller waits in `receive` until the
  reader, woken by the poll set, tells it to read (no dirty scheduler is
  held, so any number of processes may wait in `recv/2`).

  Errors are gen_udp's: POSIX atoms (`:econnrefused`, ...), `:eagain` when
  the send buffer is full, `:closed`, and `{:emsgsize, mtu}` where `mtu` is
  the path MTU the kernel knows for the destination (or `nil`). As with
  gen_udp, `recv/2` on an active socket is `{:error, :einval}`, a peer of
  the other family `{:error, :eafnosupport}`, a host name that does not
  resolve `{:error, :nxdomain}`, and what the platform lacks `{:error, :enotsup}`.
  """

  import Bitwise, only: [<<<: 2]

  alias :plpmtud_nif, as: Native
  alias PLPMTUD.Telemetry

  @typedoc "A socket handle."
  @opaque t :: reference()

  @typedoc "An IPv4 or IPv6 address tuple."
  @type ip :: :inet.ip_address()

  @typedoc "An address tuple or a host name (string, charlist or atom) to resolve."
  @type host :: ip() | String.t() | :inet.hostname()

  @typedoc "Don't-Fragment policy."
  @type df :: :probe | :do | :want | :dont

  @typedoc "How received datagrams are delivered."
  @type active :: boolean() | :once | non_neg_integer()

  @typedoc "Why a call failed."
  @type reason ::
          :closed | :eagain | :timeout | {:emsgsize, pos_integer() | nil} | atom() | tuple()

  @open_defaults [
    ip: nil,
    family: nil,
    connect: nil,
    df: :probe,
    active: true,
    recv_errors: true,
    reuse_address: false,
    netns: nil,
    transport: :udp,
    batch: false,
    recbuf: nil,
    backlog: nil
  ]

  @doc """
  Opens a UDP socket bound to `port` (0: any).

  ## Options

    * `:ip` - local address (default: any address of `:family`)
    * `:family` - `:inet` or `:inet6`; implied by `:ip` or `:connect` when
      given, else `:inet`
    * `:connect` - `{host, port}` of a peer, for `send/2` and `path_mtu/1`;
      a host name is resolved in the socket's family as gen_udp does (see
      `resolve/2`), and one that does not resolve returns the resolver's
      reason, such as `{:error, :nxdomain}`
    * `:df` - `:probe` (default), `:do`, `:want` or `:dont`. Use `:probe`
      on a socket that probes: the kernel's PMTU cache is per destination
      and lowered by any PTB that quotes a real flow, forged ones too
      (IPv4 down to its `min_pmtu`, 552; IPv6 down to 1280). A `:do` socket
      then fails every larger send with `{:error, {:emsgsize, mtu}}` and
      cannot probe above it until the entry expires, while a `:probe` socket's probes still leave and
      the prober validates the answers itself. `path_mtu/1` reports the
      cached value in both modes. Shown in `test/plpmtud/df_mode_lab_test.exs`.
    * `:active` - `true` (default), `false`, `:once` or a count, as gen_udp
    * `:batch` - `true` to receive `{:plpmtud_udp_batch, socket, [{ip, port,
      data}]}`, the datagrams of one `recvmmsg` (up to 32) in one message,
      instead of one message per datagram (default `false`); for high-rate receivers.
      `:once` and counts still count datagrams
    * `:recv_errors` - read ICMP errors from the error queue (default `true`)
    * `:reuse_address` - `SO_REUSEADDR` (default `false`)
    * `:backlog` - the bound, in bytes, on the socket's messages the
      controlling process has not taken (default 4 MiB, see "Backlog
      bound"); a positive integer. Lower it for many sockets, raise it for
      an owner that takes bursts in large gulps
    * `:recbuf` - `SO_RCVBUF` in bytes, as gen_udp's `recbuf` (default: the
      kernel's); a larger buffer loses fewer datagrams in bursts
    * `:transport` - `:udp` (default) or `:icmp_echo`: an unprivileged ping
      socket whose datagrams are ICMP echo messages (the kernel sets the
      identifier and checksum); allowed by the `net.ipv4.ping_group_range`
      sysctl, else `{:error, :eacces}`
    * `:netns` - open the socket inside this network namespace: a name from
      `ip netns add` (looked up in `/run/netns/`; a plain name, without `/`,
      `..` or NUL, else `ArgumentError`) or an absolute path. Needs root;
      Linux. The file is opened without blocking, on a dirty IO scheduler.
      `{:error, :enoent}` when no such namespace exists, `:eperm` without
      the privilege to enter it, `:einval` when the file is not a namespace.

  Unknown options raise `ArgumentError`.
  """
  @spec open(:inet.port_number(), keyword()) :: {:ok, t()} | {:error, reason()}
  def open(port \\ 0, options \\ []) do
    options = Keyword.validate!(options, @open_defaults)
    family = options[:family] || family_of(options[:ip]) || family_of(options[:connect]) || :inet

    with {:ok, connect} <- resolve_peer(options[:connect], family),
         {:ok, socket} <-
           Native.socket_open(
             options[:ip] || any_address(family),
             port,
             connect,
             options[:df],
             options[:active],
             options[:recv_errors],
             options[:reuse_address],
             netns_path(options[:netns]),
             icmp?(options[:transport]),
             options[:batch] == true,
             options[:recbuf],
             backlog(options[:backlog])
           ) do
      start_reader(socket)
    end
  end

  # The reader process: gets the socket's select messages and lets the NIF
  # read and deliver; ends when the socket closes. It is linked to the
  # controlling process, as gen_udp's port is, and unlinks before it ends
  # normally; its group leader is `:user`'s, not the opener's, so stopping
  # the opener's application leaves it alone.
  defp start_reader(socket) do
    owner = self()
    reader = spawn_link(fn -> read_loop(socket, owner) end)
    :erlang.group_leader(Process.whereis(:user) || Process.whereis(:init), reader)

    case Native.socket_start(socket, reader) do
      :ok ->
        {:ok, socket}

      {:error, _} = error ->
        Process.unlink(reader)
        error
    end
  end

  # An idle reader hibernates after a second (its heap shrinks to a few
  # words: 10 000 quiet sockets then cost about 1 KB each less).
  @doc false
  @spec read_loop(t(), pid()) :: :ok
  def read_loop(socket, owner) do
    receive do
      {:select, _resource, _ref, event} -> ready(socket, owner, event, 0)
      {:plpmtud_owner, new_owner} -> read_loop(socket, relink(owner, new_owner))
      :plpmtud_closed -> stop(owner)
    after
      1_000 -> :erlang.hibernate(__MODULE__, :read_loop, [socket, owner])
    end
  end

  defp stop(owner) do
    Process.unlink(owner)
    :ok
  end

  defp relink(old, new) do
    Process.link(new)
    if old != new, do: Process.unlink(old)
    new
  end

  defp ready(socket, linked, event, round) do
    case Native.socket_ready(socket, event) do
      :ok ->
        read_loop(socket, linked)

      # Stopped at its budget with datagrams still queued: go on reading
      # (the scheduler runs others in between), but take an error-queue
      # readiness first so a flood cannot hold back a Packet-Too-Big.
      {:more, _owner} ->
        receive do
          {:select, _resource, _ref, :ready_error} -> Native.socket_ready(socket, :ready_error)
        after
          0 -> :ok
        end

        ready(socket, linked, :ready_input, 0)

      # The owner's backlog has no room left after this call's deliveries:
      # measure it again at once.
      {:full, owner} ->
        ready(socket, linked, resume(owner), 0)

      # No room at all: the datagrams wait in the kernel's buffer (which
      # drops the excess when full), the reports in the socket's table.
      {:paused, owner} ->
        pause(socket, linked, owner, round)

      :closed ->
        stop(linked)
    end
  end

  defp resume(owner) do
    case Process.info(owner, :message_queue_len) do
      {:message_queue_len, n} -> {:resume, owner, n}
      nil -> {:resume, owner, 0}
    end
  end

  # Waits for the owner to take its messages: yields a few times, then
  # sleeps 1, 2, 4 ... up to 200 ms between measurements (a paused reader
  # costs next to nothing), taking readiness meanwhile and a new owner at
  # once.
  defp pause(socket, linked, owner, round) do
    if round < 8, do: :erlang.yield()

    receive do
      :plpmtud_closed ->
        stop(linked)

      {:plpmtud_owner, new_owner} ->
        ready(socket, relink(linked, new_owner), resume(new_owner), 0)

      # Error-queue entries go to the socket's table; input readiness
      # wakes `recv/2` waiters of a passive socket.
      {:select, _resource, _ref, event} ->
        case Native.socket_ready(socket, event) do
          :closed -> stop(linked)
          _ -> pause(socket, linked, owner, round)
        end
    after
      pause_ms(round) -> ready(socket, linked, resume(owner), round + 1)
    end
  end

  # Waits end on multiples of their length in monotonic time, so paused
  # readers wake together: one scheduler wake-up serves them all.
  defp pause_ms(round) when round < 8, do: 0

  defp pause_ms(round) do
    period = min(1 <<< min(round - 8, 8), 200)
    period - rem(System.monotonic_time(:millisecond), period)
  end

  @doc """
  Resolves `host` to an address of `family` (`:inet` or `:inet6`) as gen_udp
  does, with `:inet.getaddr/2`: an address tuple is returned as it is, a
  host name (string, charlist or atom) is looked up, and one that does not
  resolve returns the resolver's reason (`{:error, :nxdomain}`, or
  `{:error, :einval}` for a malformed name: one longer than 255
  characters, or a binary that is not UTF-8, is never looked up).
  """
  @spec resolve(host(), :inet | :inet6) :: {:ok, ip()} | {:error, :inet.posix()}
  def resolve(host, family) when family in [:inet, :inet6] do
    cond do
      is_tuple(host) -> {:ok, host}
      is_binary(host) -> getaddr(:unicode.characters_to_list(host), family)
      is_list(host) -> getaddr(host, family)
      is_atom(host) -> :inet.getaddr(host, family)
      true -> raise ArgumentError, "expected an address or a host name, got: #{inspect(host)}"
    end
  end

  def resolve(_host, family),
    do: raise(ArgumentError, "family must be :inet or :inet6, got: #{inspect(family)}")

  # A host name has at most 255 characters (RFC 1035); a longer one, or a
  # binary that is not UTF-8, is malformed and never looked up.
  @max_host 255

  defp getaddr(name, family) when is_list(name) do
    if longer_than?(name, @max_host), do: {:error, :einval}, else: :inet.getaddr(name, family)
  end

  defp getaddr(_not_utf8, _family), do: {:error, :einval}

  defp longer_than?([_ | rest], n) when n > 0, do: longer_than?(rest, n - 1)
  defp longer_than?([_ | _], 0), do: true
  defp longer_than?(_, _), do: false

  defp resolve_peer(nil, _family), do: {:ok, nil}

  defp resolve_peer({host, port}, family) do
    with {:ok, ip} <- resolve(host, family), do: {:ok, {ip, port}}
  end

  # Anything else reaches the NIF, which raises ArgumentError.
  defp resolve_peer(other, _family), do: {:ok, other}

  defp backlog(nil), do: nil
  defp backlog(bytes) when is_integer(bytes) and bytes > 0 and bytes < 1 <<< 48, do: bytes

  defp backlog(other),
    do: raise(ArgumentError, "backlog must be a positive number of bytes, got: #{inspect(other)}")

  defp icmp?(:udp), do: false
  defp icmp?(:icmp_echo), do: true

  defp icmp?(other),
    do: raise(ArgumentError, "transport must be :udp or :icmp_echo, got: #{inspect(other)}")

  # A plain name (no "/", not "." or "..", no NUL, at most 255 bytes) is
  # looked up in /run/netns; an absolute path is taken as given.
  defp netns_path(nil), do: nil

  defp netns_path("/" <> _ = path) do
    if String.contains?(path, <<0>>), do: bad_netns(path), else: path
  end

  defp netns_path(name) when is_binary(name) and byte_size(name) in 1..255 do
    if name in [".", ".."] or String.contains?(name, ["/", <<0>>]),
      do: bad_netns(name),
      else: "/run/netns/" <> name
  end

  defp netns_path(other), do: bad_netns(other)

  @spec bad_netns(term()) :: no_return()
  defp bad_netns(other) do
    raise ArgumentError,
          "netns must be a namespace name (no \"/\", \"..\" or NUL, at most 255 bytes) " <>
            "or an absolute path, got: #{inspect(other, limit: 5, printable_limit: 300)}"
  end

  @doc """
  The family of an address tuple, or of the address of an `{address, port}`
  pair: `:inet`, `:inet6`, or `nil` for anything else (a host name).
  """
  @spec family_of(term()) :: :inet | :inet6 | nil
  def family_of({ip, port}) when is_integer(port), do: family_of(ip)
  def family_of(ip) when is_tuple(ip) and tuple_size(ip) == 8, do: :inet6
  def family_of(ip) when is_tuple(ip) and tuple_size(ip) == 4, do: :inet
  def family_of(_), do: nil

  defp any_address(:inet), do: {0, 0, 0, 0}
  defp any_address(:inet6), do: {0, 0, 0, 0, 0, 0, 0, 0}

  defp any_address(other),
    do: raise(ArgumentError, "family must be :inet or :inet6, got: #{inspect(other)}")

  @doc """
  Takes over sending on an existing gen_udp socket (a port from
  `:gen_udp.open/2`) or an OS fd: sets `:df` (default `:probe`) and, unless
  `recv_errors: false`, the error queue, whose Packet-Too-Big reports come to
  the caller as `{:plpmtud_ptb, ...}`. Datagrams still go to gen_udp's owner.

  The fd stays owned by gen_udp: `close/1` never closes it, and it must
  outlive the returned socket. The returned socket watches a duplicate of
  the fd (one descriptor, closed by `close/1`).
  """
  @spec attach(port() | non_neg_integer(), keyword()) :: {:ok, t()} | {:error, reason()}
  def attach(gen_udp_or_fd, options \\ []) do
    options = Keyword.validate!(options, df: :probe, recv_errors: true)

    with {:ok, fd} <- fd_of(gen_udp_or_fd),
         {:ok, socket} <- Native.socket_attach(fd, options[:df], options[:recv_errors]) do
      start_reader(socket)
    end
  end

  defp fd_of(fd) when is_integer(fd) and fd >= 0, do: {:ok, fd}
  defp fd_of(port) when is_port(port), do: :inet.getfd(port)

  defp fd_of(other),
    do: raise(ArgumentError, "expected a gen_udp socket or an fd, got: #{inspect(other)}")

  @doc """
  Sends `data` to the connected peer without blocking. An EMSGSIZE refusal
  also emits `[:plpmtud, :socket, :emsgsize]` (see `PLPMTUD.Telemetry`).
  """
  @spec send(t(), iodata()) :: :ok | {:error, reason()}
  def send(socket, data) do
    data = to_binary(data)

    socket
    |> Native.socket_send(data)
    |> Telemetry.socket_result(socket, nil, byte_size(data))
  end

  @doc """
  Sends `data` to the connected IPv4 peer with DF off for this datagram,
  so that routers may fragment it: for a packet sent before the PLPMTU
  fell that cannot be re-cut (a numbered uTP packet). Use it for such
  retransmissions only: one lost fragment loses the datagram.

  Linux has no per-datagram DF for IPv4, so the socket's policy is `:dont`
  for this one send, under the socket's DF lock: every other send, `df/1`
  and `set_df/2` on the socket (from any process, also through the
  facade's calls on an attached gen_udp socket) wait for it, and the
  policy `set_df/2` chose is put back before they run. No other datagram
  leaves with DF off and no caller sees `:dont`. On IPv6 routers never
  fragment and Linux fragments at the source only above the route's MTU,
  so this is `{:error, :enotsup}`: the transport must carry the packet in
  pieces its peer joins.
  """
  @spec send_fragmentable(t(), iodata()) :: :ok | {:error, reason()}
  def send_fragmentable(socket, data),
    do: Native.socket_send_fragmentable(socket, nil, to_binary(data))

  @doc """
  `send_fragmentable/2` to `host`:`port`, for an unconnected socket shared
  by many peers. A host name is resolved as in `send_to/4`.
  """
  @spec send_fragmentable_to(t(), host(), :inet.port_number(), iodata()) ::
          :ok | {:error, reason()}
  def send_fragmentable_to(socket, host, port, data) do
    with {:ok, ip} <- resolve_for(socket, host),
         do: Native.socket_send_fragmentable(socket, {ip, port}, to_binary(data))
  end

  @doc """
  Sends `data` to `host`:`port` without blocking. A host name is resolved
  in the socket's family (see `resolve/2`). An EMSGSIZE refusal also emits
  `[:plpmtud, :socket, :emsgsize]`, as `send/2`.
  """
  @spec send_to(t(), host(), :inet.port_number(), iodata()) :: :ok | {:error, reason()}
  def send_to(socket, host, port, data) do
    with {:ok, ip} <- resolve_for(socket, host) do
      data = to_binary(data)

      socket
      |> Native.socket_send_to(ip, port, data)
      |> Telemetry.socket_result(socket, {ip, port}, byte_size(data))
    end
  end

  # Resolves `host` in the family of the socket's local address.
  defp resolve_for(_socket, ip) when is_tuple(ip), do: {:ok, ip}

  defp resolve_for(socket, host) do
    with {:ok, {local, _port}} <- sockname(socket), do: resolve(host, family_of(local))
  end

  @doc """
  Sends a list of binaries to `dest` (`{ip, port}`) or, when `nil`, the
  connected peer: runs of equal-sized datagrams (optionally ending with one
  shorter) go as one UDP GSO send (`UDP_SEGMENT`) where the kernel has it,
  the rest with `sendmmsg`. The NIF reports its time to the scheduler and
  returns after about a time slice; this function then continues with the
  rest, so other processes run in between.

  Returns `{:ok, count}` when all were sent, or `{:error, sent, reason}` at
  the first failure (`sent` datagrams went out). A host name in `dest` is
  resolved as in `send_to/4`; `{:error, 0, reason}` when it does not
  resolve. An improper list or an element that is not a binary raises
  `ArgumentError` before anything is sent.
  """
  @spec send_batch(t(), [binary()], {host(), :inet.port_number()} | nil) ::
          {:ok, non_neg_integer()} | {:error, non_neg_integer(), reason()}
  def send_batch(socket, datagrams, dest \\ nil) when is_list(datagrams) do
    case resolve_dest(socket, dest) do
      {:ok, dest} -> send_batch(socket, datagrams, dest, 0)
      {:error, reason} -> {:error, 0, reason}
    end
  end

  defp resolve_dest(socket, {host, port}) do
    with {:ok, ip} <- resolve_for(socket, host), do: {:ok, {ip, port}}
  end

  defp resolve_dest(_socket, dest), do: {:ok, dest}

  defp send_batch(socket, datagrams, dest, sent_before) do
    case Native.socket_send_batch(socket, datagrams, dest) do
      {:ok, sent} ->
        {:ok, sent_before + sent}

      {:partial, sent} ->
        send_batch(socket, Enum.drop(datagrams, sent), dest, sent_before + sent)

      {:error, sent, reason} ->
        Telemetry.socket_result({:error, sent_before + sent, reason}, socket, dest, nil)
    end
  end

  @doc """
  Receives one datagram on a passive (`active: false`) socket: a queued
  one at once, else waiting at most `timeout` ms in `receive` (no
  scheduler or thread is held: the socket's reader wakes the caller when
  the poll set reports it readable). `{:error, :timeout}` when none
  came; `{:error, :closed}` when the socket is closed meanwhile;
  `{:error, :einval}` on an active socket, as gen_udp.
  """
  @spec recv(t(), timeout()) ::
          {:ok, {ip(), :inet.port_number(), binary()}} | {:error, reason()}
  def recv(socket, timeout \\ :infinity) do
    deadline =
      case timeout do
        :infinity ->
          :infinity

        ms when is_integer(ms) and ms >= 0 ->
          System.monotonic_time(:millisecond) + ms

        _ ->
          raise ArgumentError, "timeout must be a non-negative integer or :infinity"
      end

    recv_until(socket, deadline)
  end

  defp recv_until(socket, deadline) do
    case Native.socket_recv_nowait(socket) do
      {:error, :eagain} -> wait_readable(socket, deadline)
      result -> result
    end
  end

  # Waits for the reader's `{:plpmtud_recv_ready, id}` (sent when the socket
  # is readable, closes or turns active), then reads again.
  defp wait_readable(socket, deadline) do
    case time_left(deadline) do
      0 ->
        {:error, :timeout}

      _left ->
        case Native.socket_recv_wait(socket) do
          {:ok, id} -> wait_ready(socket, id, deadline)
          error -> error
        end
    end
  end

  # `receive ... after` takes at most 2^32 - 1 ms: longer waits go in
  # rounds, the registration standing.
  @max_after 0xFFFF_FFFF

  defp wait_ready(socket, id, deadline) do
    left = time_left(deadline)

    receive do
      {:plpmtud_recv_ready, ^id} -> recv_until(socket, deadline)
    after
      min(left, @max_after) ->
        if time_left(deadline) == 0,
          do: give_up(socket, id),
          else: wait_ready(socket, id, deadline)
    end
  end

  # Timed out: unregister, and read once if a wake-up came meanwhile.
  defp give_up(socket, id) do
    :ok = Native.socket_recv_cancel(socket)

    receive do
      {:plpmtud_recv_ready, ^id} ->
        case Native.socket_recv_nowait(socket) do
          {:error, :eagain} -> {:error, :timeout}
          result -> result
        end
    after
      0 -> {:error, :timeout}
    end
  end

  defp time_left(:infinity), do: :infinity
  defp time_left(deadline), do: max(deadline - System.monotonic_time(:millisecond), 0)

  @doc """
  Turns UDP GSO for `send_batch/3` on or off. Returns `{:ok, enabled}`: GSO
  stays off where the kernel refused it once (or off Linux).
  """
  @spec set_gso(t(), boolean()) :: {:ok, boolean()} | {:error, reason()}
  def set_gso(socket, enabled), do: Native.socket_set_gso(socket, enabled)

  @doc """
  Sets the active mode: `true`, `false`, `:once` or a count.
  `{:error, :closed}` on a closed socket.
  """
  @spec set_active(t(), active()) :: :ok | {:error, :closed}
  def set_active(socket, active), do: Native.socket_set_active(socket, active)

  @doc """
  Makes `pid` the controlling process. Only the current one may
  (`{:error, :not_owner}`). As with gen_udp, a `pid` that is not alive
  returns `{:error, :badarg}` and the socket stays open with its owner;
  a closed socket returns `{:error, :closed}`.
  """
  @spec controlling_process(t(), pid()) :: :ok | {:error, :not_owner | :badarg | :closed}
  def controlling_process(socket, pid) do
    case Native.socket_controlling_process(socket, pid) do
      # The reader links to `pid` when it reads its notice; the link to the
      # caller goes now, so that the caller's exit cannot close the socket.
      {:ok, reader} ->
        if is_pid(reader) and pid != self(), do: Process.unlink(reader)
        :ok

      error ->
        error
    end
  end

  @doc "Closes the socket (an attached fd is left open). Idempotent."
  @spec close(t()) :: :ok
  def close(socket), do: Native.socket_close(socket)

  @doc "The kernel's path MTU to the connected peer (`IP_MTU` / `IPV6_MTU`)."
  @spec path_mtu(t()) :: {:ok, pos_integer()} | {:error, reason()}
  def path_mtu(socket), do: Native.socket_path_mtu(socket, nil)

  @doc """
  The kernel's path MTU to `host`:`port` from this socket, connected or
  not: the route's cached PMTU or the outgoing interface's MTU, as
  `EMSGSIZE` on a send there would report it.
  """
  @spec path_mtu_to(t(), host(), :inet.port_number()) ::
          {:ok, pos_integer()} | {:error, reason()}
  def path_mtu_to(socket, host, port) do
    with {:ok, ip} <- resolve_for(socket, host), do: Native.socket_path_mtu(socket, {ip, port})
  end

  @doc """
  The DF policy, read back from the kernel (never the `:dont` of a
  `send_fragmentable/2` in progress: it waits for that send).
  """
  @spec df(t()) :: {:ok, df()} | {:error, reason()}
  def df(socket), do: Native.socket_df(socket)

  @doc """
  Changes the DF policy: the one every send uses and every
  `send_fragmentable/2` puts back.
  """
  @spec set_df(t(), df()) :: :ok | {:error, reason()}
  def set_df(socket, df), do: Native.socket_set_df(socket, df)

  @doc "The local address."
  @spec sockname(t()) :: {:ok, {ip(), :inet.port_number()}} | {:error, reason()}
  def sockname(socket), do: Native.socket_sockname(socket)

  @doc "The connected peer."
  @spec peername(t()) :: {:ok, {ip(), :inet.port_number()}} | {:error, reason()}
  def peername(socket), do: Native.socket_peername(socket)

  @doc """
  Counters: `datagrams_delivered`, `errors_read` (ICMP reports delivered),
  `errors_dropped` (error-queue entries not delivered), `reports_dropped`
  (reports replaced by a newer one or refused while the owner had no room),
  `backlog` (the bound in bytes), `closed`.
  """
  @spec stats(t()) :: %{atom() => non_neg_integer() | boolean()}
  def stats(socket), do: Native.socket_stats(socket)

  defp to_binary(data) when is_binary(data), do: data
  defp to_binary(data), do: IO.iodata_to_binary(data)
end
