defmodule PLPMTUD.Overhead do
  @moduledoc """
  Header overheads of protocol stacks, payload budgets, standard MTUs and
  the TCP MSS for a path MTU (with `set_mss/2` to clamp a gen_tcp socket).

  Layers: `:ethernet` 14, `:dot1q` 4, `:mpls` 4, `:pppoe` 8, `:ipv4` 20,
  `:ipv6` 40, `:udp` 8, `:tcp` 20, `:gre` 4, `:gre_key` 8, `:esp` 36 (tunnel,
  AES-GCM, worst case), `:wireguard` 32, `:vxlan` 50 (outer Ethernet, IPv4,
  UDP and VXLAN), `:utp` 20, `:quic_short` 29.
  """

  alias :plpmtud_nif, as: Native

  @doc "Bytes a stack of layers adds to every packet; unknown layers raise `ArgumentError`."
  @spec overhead([atom()]) :: non_neg_integer()
  def overhead(layers) when is_list(layers), do: Native.overhead_of(layers)

  @doc "Payload bytes left in a packet of `mtu` bytes under `layers` (0 if they do not fit)."
  @spec payload_budget(pos_integer(), [atom()]) :: non_neg_integer()
  def payload_budget(mtu, layers) when is_integer(mtu), do: max(mtu - overhead(layers), 0)

  @doc "Well-known MTUs: `[{name, mtu}]`."
  @spec standard_mtus() :: [{atom(), pos_integer()}]
  def standard_mtus, do: Native.standard_mtus()

  @doc "The TCP MSS for a path MTU: MTU − IP header − TCP header (no options)."
  @spec mss(pos_integer(), :inet | :inet6) :: non_neg_integer()
  def mss(mtu, :inet), do: payload_budget(mtu, [:ipv4, :tcp])
  def mss(mtu, :inet6), do: payload_budget(mtu, [:ipv6, :tcp])

  # TCP_MAXSEG at level IPPROTO_TCP (Linux), as a raw gen_tcp option.
  @ipproto_tcp 6
  @tcp_maxseg 2

  @doc """
  Sets `TCP_MAXSEG` to `mss` on a gen_tcp socket and returns what the
  kernel reads back: `{:ok, mss}` or `{:error, reason}`. Linux.
  """
  @spec set_mss(port(), pos_integer()) :: {:ok, pos_integer()} | {:error, term()}
  def set_mss(gen_tcp_socket, mss) when is_integer(mss) and mss in 1..0x7FFF_FFFF do
    with :ok <-
           :inet.setopts(gen_tcp_socket, [{:raw, @ipproto_tcp, @tcp_maxseg, <<mss::native-32>>}]),
         {:ok, [{:raw, @ipproto_tcp, @tcp_maxseg, <<read::native-32>>}]} <-
           :inet.getopts(gen_tcp_socket, [{:raw, @ipproto_tcp, @tcp_maxseg, 4}]) do
      {:ok, read}
    end
  end

  def set_mss(_gen_tcp_socket, mss),
    do: raise(ArgumentError, "mss must be 1..2^31-1, got: #{inspect(mss)}")
end
