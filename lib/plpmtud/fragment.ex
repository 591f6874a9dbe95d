defmodule PLPMTUD.Fragment do
  @moduledoc """
  Application-level fragmentation for datagram users: `split/3` cuts a
  message into datagrams that fit the current payload size (each with a
  16-byte header: message id, index, count, CRC32 of the whole message), and
  a reassembler puts them back together in any order, ignoring duplicates,
  verifying the checksum, expiring incomplete messages and never holding
  more than its bounds. Corrupt, hostile or oversized fragments are refused
  and counted.

  Duplicates are ignored both while a message is incomplete (`:duplicate`)
  and after it was delivered: the reassembler remembers the last 128
  delivered messages (id, count and checksum; a fixed 1.5 KiB), and any
  fragment of one of them is refused as `:duplicate_message`, so a message
  is never delivered twice and a late copy holds no memory.
  """

  alias :plpmtud_nif, as: Native

  @typedoc "A reassembler (one per peer)."
  @opaque reassembler :: reference()

  @doc "Bytes of the fragment header."
  @spec header_size() :: 16
  def header_size, do: 16

  @doc """
  Splits `message` into datagrams of at most `max_datagram` bytes (use the
  prober's `payload_size`) for message `id` (0..2^32-1).
  """
  @spec split(binary(), non_neg_integer(), pos_integer()) ::
          {:ok, [binary()]} | {:error, String.t()}
  def split(message, id, max_datagram), do: Native.fragment_split(message, id, max_datagram)

  @doc """
  A reassembler. Options: `:max_messages` incomplete messages at once (64),
  `:max_bytes` held at once (4 MiB), `:timeout` ms for an incomplete
  message (5 000).
  """
  @spec reassembler(keyword()) :: reassembler()
  def reassembler(options \\ []) do
    options =
      Keyword.validate!(options, max_messages: 64, max_bytes: 4 * 1024 * 1024, timeout: 5_000)

    Native.reassembler_new(options[:max_messages], options[:max_bytes], options[:timeout])
  end

  @doc """
  Takes one received fragment: `{:ok, message}` when it completed a message,
  `:more` while fragments are missing, `{:error, reason}` when refused
  (`:malformed`, `:out_of_range`, `:inconsistent`, `:duplicate`,
  `:duplicate_message`, `:too_large`, `:bad_checksum`).
  """
  @spec push(reassembler(), binary(), PLPMTUD.time_ms()) ::
          {:ok, binary()} | :more | {:error, atom()}
  def push(reassembler, fragment, now \\ PLPMTUD.now_ms()),
    do: Native.reassembler_push(reassembler, now, fragment)

  @doc "Counters, peak and current bytes held."
  @spec stats(reassembler()) :: %{atom() => non_neg_integer()}
  def stats(reassembler), do: Native.reassembler_stats(reassembler)
end
