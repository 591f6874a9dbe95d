defmodule PLPMTUD.Socket do
  @moduledoc """
  A UDP socket with Don't-Fragment, the kernel's path MTU, ICMP
  Packet-Too-Big reports and batched sends: the Elixir face of the Erlang
  module `:plpmtud_socket`, which holds the implementation and documents
  its backlog bound, DF policies and errors.

  The messages a socket sends its controlling process
  (`{:plpmtud_udp, socket, ip, port, data}`, `{:plpmtud_ptb, socket,
  report}`, ...) are documented once, in `:plpmtud_socket`'s module
  documentation: the terms are the same in both languages.

  Options are a keyword list (see `:plpmtud_socket.open/2`); unknown ones
  and bad values raise `ArgumentError`. The functions that take a socket
  for DF (`df/1`, `set_df/2`, `path_mtu/1`, `path_mtu_to/3`,
  `send_fragmentable/2`, and `send_to/4`) take a gen_udp socket too.
  """

  @typedoc "A socket handle."
  @type t :: :plpmtud_socket.socket()

  @typedoc "An IPv4 or IPv6 address tuple."
  @type ip :: :inet.ip_address()

  @typedoc "An address tuple or a host name (string, charlist or atom) to resolve."
  @type host :: :plpmtud_socket.host()

  @typedoc "Don't-Fragment policy."
  @type df :: :plpmtud_socket.df_policy()

  @typedoc "How received datagrams are delivered."
  @type active :: :plpmtud_socket.active()

  @typedoc "Why a call failed."
  @type reason :: :plpmtud_socket.reason()

  @doc "Opens a UDP socket bound to `port` (0: any); see `:plpmtud_socket.open/2`."
  @spec open(:inet.port_number(), keyword()) :: {:ok, t()} | {:error, reason()}
  defdelegate open(port \\ 0, options \\ []), to: :plpmtud_socket

  @doc "Resolves `host` in `family` as gen_udp does; see `:plpmtud_socket.resolve/2`."
  @spec resolve(host(), :inet | :inet6) :: {:ok, ip()} | {:error, :inet.posix()}
  defdelegate resolve(host, family), to: :plpmtud_socket

  @doc "The family of an address or `{address, port}`, or `nil`."
  @spec family_of(term()) :: :inet | :inet6 | nil
  defdelegate family_of(address), to: :plpmtud_socket

  @doc "Takes over sending on a gen_udp socket or an fd; see `:plpmtud_socket.attach/2`."
  @spec attach(port() | non_neg_integer(), keyword()) :: {:ok, t()} | {:error, reason()}
  defdelegate attach(gen_udp_or_fd, options \\ []), to: :plpmtud_socket

  @doc "Sends `data` to the connected peer without blocking."
  @spec send(t(), iodata()) :: :ok | {:error, reason()}
  defdelegate send(socket, data), to: :plpmtud_socket

  @doc """
  Sends `data` to `host`:`port` without blocking. On a gen_udp socket (an
  address tuple as `host`) the datagram goes out under the socket's DF lock;
  see `:plpmtud_socket.send_to/4`.
  """
  @spec send_to(t() | port(), host(), :inet.port_number(), iodata()) ::
          :ok | {:error, reason()}
  defdelegate send_to(socket, host, port, data), to: :plpmtud_socket

  @doc "Sends a list of binaries with GSO / `sendmmsg`; see `:plpmtud_socket.send_batch/3`."
  @spec send_batch(t(), [binary()], {host(), :inet.port_number()} | nil) ::
          {:ok, non_neg_integer()} | {:error, non_neg_integer(), reason()}
  defdelegate send_batch(socket, datagrams, dest \\ nil), to: :plpmtud_socket

  @doc "Sends `data` to the connected peer with DF off; see `:plpmtud_socket.send_fragmentable/2`."
  @spec send_fragmentable(t() | port(), iodata()) :: :ok | {:error, reason()}
  defdelegate send_fragmentable(socket, data), to: :plpmtud_socket

  @doc "`send_fragmentable/2` to `host`:`port`."
  @spec send_fragmentable_to(t() | port(), host(), :inet.port_number(), iodata()) ::
          :ok | {:error, reason()}
  def send_fragmentable_to(socket, host, port, data),
    do: :plpmtud_socket.send_fragmentable(socket, {host, port}, data)

  @doc "Receives one datagram on a passive socket; see `:plpmtud_socket.recv/2`."
  @spec recv(t(), timeout()) :: {:ok, {ip(), :inet.port_number(), binary()}} | {:error, reason()}
  defdelegate recv(socket, timeout \\ :infinity), to: :plpmtud_socket

  @doc "Turns UDP GSO for `send_batch/3` on or off: `{:ok, enabled}`."
  @spec set_gso(t(), boolean()) :: {:ok, boolean()} | {:error, reason()}
  defdelegate set_gso(socket, enabled), to: :plpmtud_socket

  @doc "Sets the active mode: `true`, `false`, `:once` or a count."
  @spec set_active(t(), active()) :: :ok | {:error, :closed}
  defdelegate set_active(socket, active), to: :plpmtud_socket

  @doc "Makes `pid` the controlling process; see `:plpmtud_socket.controlling_process/2`."
  @spec controlling_process(t(), pid()) :: :ok | {:error, :not_owner | :badarg | :closed}
  defdelegate controlling_process(socket, pid), to: :plpmtud_socket

  @doc "Closes the socket (an attached fd is left open). Idempotent."
  @spec close(t()) :: :ok
  defdelegate close(socket), to: :plpmtud_socket

  @doc "The kernel's path MTU (IP bytes) to the connected peer."
  @spec path_mtu(t() | port()) :: {:ok, pos_integer()} | {:error, reason()}
  defdelegate path_mtu(socket), to: :plpmtud_socket, as: :kernel_mtu

  @doc "The kernel's path MTU (IP bytes) to `host`:`port`, connected or not."
  @spec path_mtu_to(t() | port(), host(), :inet.port_number()) ::
          {:ok, pos_integer()} | {:error, reason()}
  def path_mtu_to(socket, host, port), do: :plpmtud_socket.kernel_mtu(socket, {host, port})

  @doc "The DF policy, read back from the kernel."
  @spec df(t() | port()) :: {:ok, df()} | {:error, reason()}
  defdelegate df(socket), to: :plpmtud_socket

  @doc "Changes the DF policy."
  @spec set_df(t() | port(), df()) :: :ok | {:error, reason()}
  defdelegate set_df(socket, df), to: :plpmtud_socket

  @doc "The local address."
  @spec sockname(t()) :: {:ok, {ip(), :inet.port_number()}} | {:error, reason()}
  defdelegate sockname(socket), to: :plpmtud_socket

  @doc "The connected peer."
  @spec peername(t()) :: {:ok, {ip(), :inet.port_number()}} | {:error, reason()}
  defdelegate peername(socket), to: :plpmtud_socket

  @doc "Counters; see `:plpmtud_socket.stats/1`."
  @spec stats(t()) :: %{atom() => non_neg_integer() | boolean()}
  defdelegate stats(socket), to: :plpmtud_socket
end
