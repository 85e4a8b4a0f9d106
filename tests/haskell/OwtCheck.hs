{-# LANGUAGE DeriveGeneric #-}
{-# LANGUAGE OverloadedStrings #-}
{-# LANGUAGE ScopedTypeVariables #-}
{-# LANGUAGE TypeApplications #-}

-- | The Haskell client against a real server: ``OwtCheck URL SCENARIO`` prints one line per
-- result, which tests/test_client_haskell.py compares.
module Main (main) where

import Control.Exception (try)
import Data.Aeson (FromJSON, ToJSON, Value (..), object, (.=))
import qualified Data.Aeson.KeyMap as KeyMap
import qualified Data.ByteString.Char8 as BC
import Data.IORef (modifyIORef', newIORef, readIORef)
import qualified Data.Text as T
import qualified Data.Text.IO as TIO
import Data.Time.Clock (diffUTCTime, getCurrentTime)
import GHC.Generics (Generic)
import Owt
import System.Environment (getArgs)

data Greeting = Greeting {name :: T.Text, times :: Int} deriving (Generic)

instance ToJSON Greeting

data Echo = Echo {greeting :: T.Text, total :: Int} deriving (Generic, Show)

instance FromJSON Echo

main :: IO ()
main = do
  [url, scenario] <- getArgs
  client <- mkOwtClient url
  case scenario of
    "calls" -> calls client
    "stream" -> stream client
    "live" -> live client
    "hash" -> hash client
    "auth" -> auth client
    "errors" -> errors client
    _ -> fail ("no scenario " ++ scenario)

say :: Show a => String -> a -> IO ()
say label value = putStrLn (label ++ " " ++ show value)

greet :: String
greet = "def run(name, times=1):\n    return {'greeting': f'Hello, {name}!', 'total': times * 2}\n"

calls :: OwtClient -> IO ()
calls c = do
  owt @POST "f(lambda x: x.upper())" ("plain" :: String) c >>= say "post-plain"
  owt @GET "f(lambda x: x.upper())" ("plain" :: String) c >>= say "get-plain"
  owt @POST "f(lambda xs: sum(xs))" [1, 2, 3 :: Int] c >>= say "post-list"
  owtJSON @POST @Echo greet (Greeting "ann" 2) c >>= say "post-record"
  owtJSON @GET @Echo greet (Greeting "bob" 3) c >>= say "get-record"
  owtJSON @POST @Echo greet (object ["name" .= ("cy" :: T.Text)]) c >>= say "post-object"
  owtJSON @POST @[Int] "f(lambda n: list(range(n)))" (3 :: Int) c >>= say "json-list"
  owtText @POST "f(lambda s: s + ' ✓')" ("ok" :: String) c >>= TIO.putStrLn
  owt @POST "def run():\n    return b'\\x00\\xff'\n" (object []) c >>= say "bytes"
  owtAt @POST "/greet" (object ["name" .= ("dee" :: T.Text)]) c >>= say "endpoint"
  owtAt @GET "/greet" (object ["name" .= ("eve" :: T.Text), "times" .= (2 :: Int)]) c
    >>= say "get-endpoint"
  fielded <- owt @POST "def run(): return 'other'\ndef alt(): return 'alt'\n" (object [])
    (withFields [("fn_name", "alt")] c)
  say "fields" fielded
  let reverseWith = "def run(data: bytes, k: int):\n    return data[::-1] + bytes([k])\n"
  owtFiles reverseWith (object ["k" .= (7 :: Int)]) [("data", BC.pack "\NUL\255")]
    (withFields [("timeout", Number 5)] c) >>= say "files"
  owtFiles reverseWith (object ["k" .= (8 :: Int)]) [("data", BC.pack "\255")] c >>= say "files-again"

stream :: OwtClient -> IO ()
stream c = do
  seen <- newIORef []
  owtStream @POST "def run(n):\n    for i in range(n):\n        yield f'chunk {i};'\n" (object ["n" .= (3 :: Int)])
    (\chunk -> modifyIORef' seen (chunk :)) c
  readIORef seen >>= say "chunks" . BC.concat . reverse
  owtEvents @POST "from owt.lib.stream import sse\ndef run(n):\n    return sse({'i': i} for i in range(n))\n" (object ["n" .= (2 :: Int)])
    (\ev -> say "event" (sseEvent ev, sseData ev, sseId ev, sseJSON @Value ev)) c
  owtEvents @GET "from owt.lib.stream import sse\ndef run():\n    return sse(['a\\nb'])\n" (object [])
    (\ev -> say "get-event" (sseData ev)) c
  -- An item that is the text "[DONE]" is data like any other: the [DONE] id ends a stream,
  -- and only a stream without ids ends at data: [DONE].
  let doneItem = "from owt.lib.stream import sse\ndef run():\n    return sse(iter(['a', '[DONE]', 'b']))\n"
  owtEvents @POST doneItem (object []) (\ev -> say "done-item" (sseData ev, sseId ev)) c
  let bare = "def run():\n    return 'data: a\\n\\ndata: [DONE]\\n\\ndata: b\\n\\n', {'content-type': 'text/event-stream'}\n"
  owtEvents @POST bare (object []) (\ev -> say "bare-event" (sseData ev, sseId ev)) c
  -- An error event as owt sends it when a stream fails after it started (SPEC §8).
  let failing = "def run():\n    def events():\n        yield 'id: 7\\ndata: 1\\n\\n'\n        yield 'event: error\\ndata: {\"error\": \"adaptor_error\", \"message\": \"late\"}\\n\\n'\n    return events(), {'content-type': 'text/event-stream'}\n"
  sseError <- try (owtEvents @POST failing (object []) (\ev -> say "before-error" (sseData ev, sseId ev)) c)
  either (\(e :: OwtError) -> say "sse-error" (owtKind e, owtMessage e)) pure sseError

-- Each chunk reaches the callback when it is made, not when the stream ends.
live :: OwtClient -> IO ()
live c = do
  start <- getCurrentTime
  let slow = "import time\ndef run():\n    yield 'a'\n    time.sleep(1.5)\n    yield 'b'\n"
  owtStream @GET slow (object []) (\chunk -> do
    now <- getCurrentTime
    putStrLn (BC.unpack chunk ++ " " ++ show (realToFrac (diffUTCTime now start) :: Double))) c

-- The adaptor says whether its code came in the body: the client sends code once, then by hash.
hash :: OwtClient -> IO ()
hash c = do
  let sent n = "def run(request):\n    return 'code_b64' in request.json  # " ++ show (n :: Int) ++ "\n"
  owt @POST (sent 1) (object []) c >>= say "first"
  owt @POST (sent 1) (object []) c >>= say "again"
  -- The server keeps one code (--max-codes 1): sending another evicts the first.
  owt @POST (sent 2) (object []) c >>= say "other"
  owt @POST (sent 1) (object []) c >>= say "evicted"
  owt @POST (sent 1) (object []) c >>= say "after"

auth :: OwtClient -> IO ()
auth c = do
  let code = "f(lambda x: x)"
  denied <- try (owt @POST code ("hi" :: String) c)
  either (\(e :: OwtError) -> say "none" (owtStatus e, owtKind e)) (say "none") denied
  wrong <- try (owt @POST code ("hi" :: String) (withBasicAuth "alice" "wrong" c))
  either (\(e :: OwtError) -> say "wrong" (owtStatus e, owtKind e)) (say "wrong") wrong
  owt @POST code ("basic" :: String) (withBasicAuth "alice" "secret" c) >>= say "basic"
  owt @GET code ("token" :: String) (withToken "tok-1" c) >>= say "token"

errors :: OwtClient -> IO ()
errors c = do
  let report label (e :: OwtError) =
        say label (owtStatus e, owtKind e, KeyMap.member "traceback" `onObject` owtPayload e)
      onObject f v = case v of
        Object o -> f o
        _ -> False
  try (owt @POST "def run():\n    raise KeyError('x')\n" (object []) c) >>= either (report "raised") (say "raised")
  try (owt @POST "def run(:\n" (object []) c) >>= either (report "syntax") (say "syntax")
  try (owt @POST "def run(a):\n    return a\n" (object ["b" .= (1 :: Int)]) c) >>= either (report "args") (say "args")
  try (owtJSON @POST @Int "f(lambda: 'text')" (object []) c) >>= either (report "decode") (say "decode")
  try (owt @POST "def run():\n    return 'no', 418\n" (object []) c) >>= either (\e -> say "teapot" (owtStatus e, owtKind e, owtMessage e)) (say "teapot")
