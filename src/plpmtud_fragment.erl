%%% @doc Application-level fragmentation for datagram transports, for Erlang
%%% and Elixir alike (`PLPMTUD.Fragment' delegates here). Needs no Elixir.
%%%
%%% {@link split/3} cuts a message into datagrams of at most a given size
%%% (use the prober's packet size), each with a 16-byte header:
%%% `<<"PF", 1, 0, Id:32, Index:16, Count:16, Crc32:32>>' (big-endian; the
%%% CRC-32 is zlib's, of the whole message). It runs in Erlang: the
%%% fragments are built with the emulator's own binaries, and a large message
%%% is split over many reductions, never in one long native call.
%%%
%%% A reassembler ({@link reassembler/1}, one per peer) puts fragments back
%%% together in any order, in Rust: duplicates are ignored, checksums
%%% verified, incomplete messages expire, and it never holds more than its
%%% bounds; corrupt, hostile or oversized fragments are refused and counted
%%% (see `PLPMTUD.Fragment' for the memory model and the forger it resists).
%%% Completing a message above 64 KiB copies and checksums it on a dirty CPU
%%% scheduler, never on a normal one.
-module(plpmtud_fragment).

-export([header_size/0, split/3, reassembler/0, reassembler/1, push/2, push/3, stats/1]).

-define(NATIVE, plpmtud_nif).
-define(HEADER, 16).
-define(MAX_FRAGMENTS, 65535).

-type reassembler() :: reference().
-type options() :: #{max_messages => pos_integer(), max_bytes => pos_integer(),
                     timeout => non_neg_integer()}.
-type refusal() :: malformed | out_of_range | duplicate | duplicate_message | too_large
                 | bad_checksum.
-export_type([reassembler/0, options/0, refusal/0]).

%% @doc Bytes of the fragment header.
-spec header_size() -> 16.
header_size() -> ?HEADER.

%% @doc Splits `Message' into datagrams of at most `MaxDatagram' bytes for
%% message `Id' (0..2^32-1): `{ok, Fragments}' (one fragment for an empty
%% message), or `{error, Reason}' (a binary) when `MaxDatagram' leaves no
%% room after the header or more than 65 535 fragments would be needed.
%% Arguments of the wrong type or out of range raise `badarg'.
-spec split(binary(), non_neg_integer(), pos_integer()) -> {ok, [binary()]} | {error, binary()}.
split(Message, Id, MaxDatagram)
  when is_binary(Message), is_integer(Id), Id >= 0, Id =< 16#FFFFFFFF,
       is_integer(MaxDatagram), MaxDatagram >= 0, MaxDatagram =< 16#FFFFFFFF ->
    Chunk = MaxDatagram - ?HEADER,
    Size = byte_size(Message),
    Count = max(1, (Size + Chunk - 1) div max(Chunk, 1)),
    if
        Chunk =< 0 ->
            {error, iolist_to_binary(["datagram size ", integer_to_list(MaxDatagram),
                                      " leaves no room after the 16-byte header"])};
        Count > ?MAX_FRAGMENTS ->
            {error, <<"message needs more than 65535 fragments">>};
        true ->
            Header = <<"PF", 1, 0, Id:32>>,
            Tail = <<Count:16, (erlang:crc32(Message)):32>>,
            {ok, pieces(Message, Chunk, 0, Header, Tail)}
    end;
split(_Message, _Id, _MaxDatagram) ->
    erlang:error(badarg).

pieces(Message, Chunk, Index, Header, Tail) when byte_size(Message) > Chunk ->
    <<Piece:Chunk/binary, Rest/binary>> = Message,
    [<<Header/binary, Index:16, Tail/binary, Piece/binary>>
     | pieces(Rest, Chunk, Index + 1, Header, Tail)];
pieces(Last, _Chunk, Index, Header, Tail) ->
    [<<Header/binary, Index:16, Tail/binary, Last/binary>>].

%% @equiv reassembler(#{})
-spec reassembler() -> reassembler().
reassembler() -> reassembler(#{}).

%% @doc A reassembler: at most `max_messages' incomplete messages at once
%% (default 64), `max_bytes' held at once (4 MiB), `timeout' ms for an
%% incomplete message (5 000). An unknown option or a value out of range
%% raises `badarg'.
-spec reassembler(options()) -> reassembler().
reassembler(Options) when is_map(Options) ->
    Defaults = #{max_messages => 64, max_bytes => 4 * 1024 * 1024, timeout => 5000},
    case maps:keys(maps:without(maps:keys(Defaults), Options)) of
        [] -> ok;
        _ -> erlang:error(badarg)
    end,
    #{max_messages := Messages, max_bytes := Bytes, timeout := Timeout} =
        maps:merge(Defaults, Options),
    ?NATIVE:reassembler_new(Messages, Bytes, Timeout);
reassembler(_Options) ->
    erlang:error(badarg).

%% @equiv push(Reassembler, Fragment, plpmtud:now_ms())
-spec push(reassembler(), binary()) -> {ok, binary()} | more | {error, refusal()}.
push(Reassembler, Fragment) -> push(Reassembler, Fragment, plpmtud:now_ms()).

%% @doc Takes one received fragment at time `Now' (ms): `{ok, Message}'
%% when it completed a message, `more' while fragments are missing,
%% `{error, Reason}' when refused.
-spec push(reassembler(), binary(), non_neg_integer()) ->
          {ok, binary()} | more | {error, refusal()}.
push(Reassembler, Fragment, Now) ->
    case ?NATIVE:reassembler_push(Reassembler, Now, Fragment) of
        {join, Job} -> ?NATIVE:reassembler_join(Job);
        Answer -> Answer
    end.

%% @doc Counters, peak and current bytes and messages held.
-spec stats(reassembler()) -> #{atom() => non_neg_integer()}.
stats(Reassembler) -> ?NATIVE:reassembler_stats(Reassembler).
