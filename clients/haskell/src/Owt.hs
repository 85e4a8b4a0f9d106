{-# LANGUAGE AllowAmbiguousTypes #-}
{-# LANGUAGE LambdaCase #-}
{-# LANGUAGE OverloadedStrings #-}
{-# LANGUAGE ScopedTypeVariables #-}
{-# LANGUAGE TypeApplications #-}

-- | A client for owt: send a small Python adaptor and its argument, get its result.
--
-- > {-# LANGUAGE TypeApplications #-}
-- > import Owt
-- >
-- > main = mkOwtClient "http://localhost:9876/owt" >>= owt @POST "f(sota.hard_task)" "solve AGI" >>= putBS
--
-- The method is a type (@owt \@GET@ sends a query string, @owt \@POST@ a JSON body). The
-- argument is any 'ToJSON' value: one that encodes to a JSON object (a record, an Aeson
-- 'Object') is the adaptor's keyword arguments, any other value is its single argument
-- (@__last__@, which a pipe reads). Code is sent once, then by its sha256; when the server
-- no longer holds it (@unknown_code@), it is sent again. Every error response is thrown as an
-- 'OwtError' carrying owt's JSON error.
module Owt
  ( -- * Clients
    OwtClient
  , mkOwtClient
  , withBasicAuth
  , withToken
  , withFields
    -- * Methods
  , GET
  , POST
  , OwtMethod (..)
    -- * Calls with code
  , owt
  , owtJSON
  , owtText
  , owtStream
  , owtEvents
    -- * Calls to mounted or registered endpoints
  , owtAt
  , owtStreamAt
  , owtEventsAt
    -- * Binary arguments
  , owtFiles
  , owtFilesAt
  , owtStreamFilesAt
    -- * Results
  , SseEvent (..)
  , sseJSON
  , decodeOwt
  , jsonBody
  , textBody
  , boolBody
  , stringBody
  , unitBody
  , maybeBody
  , putBS
    -- * Errors
  , OwtError (..)
  ) where

import Control.Exception (Exception, catch, throwIO)
import Control.Monad (unless, when)
import qualified Crypto.Hash.SHA256 as SHA256
import Data.Aeson (FromJSON, ToJSON, Value (..), eitherDecodeStrict', encode, object, toJSON, (.=))
import qualified Data.Aeson.Key as Key
import qualified Data.Aeson.KeyMap as KeyMap
import qualified Data.ByteString as BS
import qualified Data.ByteString.Base64 as B64
import qualified Data.ByteString.Char8 as BC
import qualified Data.ByteString.Lazy as BL
import Data.IORef (IORef, atomicModifyIORef', newIORef, readIORef)
import qualified Data.Set as Set
import Data.Text (Text)
import qualified Data.Text as T
import qualified Data.Text.Encoding as TE
import qualified Data.Text.Encoding.Error as TE
import Network.HTTP.Client hiding (method, path)
import qualified Network.HTTP.Client as H
import Network.HTTP.Client.MultipartFormData (formDataBody, partBS, partFileRequestBody)
import Network.HTTP.Types (hAuthorization, hContentType, statusCode)

-- | A server to call: its URL (any path: it is the path of calls with code), credentials,
-- and the hashes of code it was sent. Shared by threads.
data OwtClient = OwtClient
  { clientManager :: Manager
  , clientRequest :: Request
  , clientAuth :: Request -> Request
  , clientFields :: [(Text, Value)]
  , clientSent :: IORef (Set.Set BS.ByteString)
  }

-- | A client for the server at this URL (@http://localhost:9876@, or with a path such as
-- @http://localhost:9876/owt@). Calls have no time limit here: the server's @timeout@ bounds
-- them.
mkOwtClient :: String -> IO OwtClient
mkOwtClient url = do
  manager <- newManager defaultManagerSettings {managerResponseTimeout = responseTimeoutNone}
  request <- parseRequest url
  sent <- newIORef Set.empty
  pure (OwtClient manager request id [] sent)

-- | Send HTTP basic credentials (@owt serve --auth user:sha256hex@) with every call.
withBasicAuth :: BS.ByteString -> BS.ByteString -> OwtClient -> OwtClient
withBasicAuth user password c = c {clientAuth = applyBasicAuth user password}

-- | Send a bearer token (@owt serve --token@) with every call.
withToken :: BS.ByteString -> OwtClient -> OwtClient
withToken token c = c {clientAuth = \r -> r {requestHeaders = header : requestHeaders r}}
  where
    header = (hAuthorization, "Bearer " <> token)

-- | Add call fields (SPEC §2: @fn_name@, @env@, @timeout@, @use_cache@, ...) to every call.
withFields :: [(Text, Value)] -> OwtClient -> OwtClient
withFields fields c = c {clientFields = clientFields c ++ fields}

-- | A call's HTTP method, as a type: @owt \@GET@ or @owt \@POST@.
class OwtMethod m where
  methodName :: BS.ByteString

data GET

data POST

instance OwtMethod GET where
  methodName = "GET"

instance OwtMethod POST where
  methodName = "POST"

-- | An error response from owt (SPEC §8), or a stream that broke off.
data OwtError = OwtError
  { owtStatus :: Int
  -- ^ the HTTP status
  , owtKind :: Text
  -- ^ @bad_request@, @adaptor_error@, @unknown_code@, ... (@http_error@ when not owt's)
  , owtMessage :: Text
  , owtPayload :: Value
  -- ^ the whole JSON error, with its extra fields (@traceback@, @field@, ...)
  }
  deriving (Show)

instance Exception OwtError

-- | A server-sent event: its name (@message@ unless the server named it), data and id.
data SseEvent = SseEvent
  { sseEvent :: Text
  , sseData :: BS.ByteString
  , sseId :: Maybe Text
  }
  deriving (Show, Eq)

-- | Run @code@ with @arg@; the response body.
owt :: forall m a. (OwtMethod m, ToJSON a) => String -> a -> OwtClient -> IO BS.ByteString
owt code arg c = call (methodName @m) (Just code) "" (toJSON arg) [] c readBody

-- | Run @code@ with @arg@; its JSON result decoded (an 'OwtError' @bad_result@ if it does not).
owtJSON :: forall m r a. (OwtMethod m, FromJSON r, ToJSON a) => String -> a -> OwtClient -> IO r
owtJSON code arg c = owt @m code arg c >>= jsonBody

-- | Run @code@ with @arg@; its result as text (UTF-8).
owtText :: forall m a. (OwtMethod m, ToJSON a) => String -> a -> OwtClient -> IO Text
owtText code arg c = TE.decodeUtf8With TE.lenientDecode <$> owt @m code arg c

-- | Run @code@ with @arg@, handing each chunk of the streamed body to @onChunk@ as it comes.
owtStream
  :: forall m a. (OwtMethod m, ToJSON a)
  => String -> a -> (BS.ByteString -> IO ()) -> OwtClient -> IO ()
owtStream code arg onChunk c =
  call (methodName @m) (Just code) "" (toJSON arg) [] c (chunks onChunk)

-- | Run @code@ with @arg@ and read its server-sent events (@owt.lib.stream.sse@): @onEvent@
-- gets each one until the event whose id is @[DONE]@ (an item that is the text "[DONE]" is
-- data like any other); an @error@ event is thrown as its 'OwtError'.
owtEvents
  :: forall m a. (OwtMethod m, ToJSON a)
  => String -> a -> (SseEvent -> IO ()) -> OwtClient -> IO ()
owtEvents code arg onEvent c =
  call (methodName @m) (Just code) "" (toJSON arg) [] c (events onEvent)

-- | Call the endpoint at @path@ with @arg@ as its arguments; the response body. A relative
-- path is under the client's URL (@"tts"@ is @URL/tts@), an absolute one (@"/tts"@) is not.
owtAt :: forall m a. (OwtMethod m, ToJSON a) => String -> a -> OwtClient -> IO BS.ByteString
owtAt path arg c = call (methodName @m) Nothing path (toJSON arg) [] c readBody

-- | 'owtAt' for a streamed body: each chunk to @onChunk@.
owtStreamAt
  :: forall m a. (OwtMethod m, ToJSON a)
  => String -> a -> (BS.ByteString -> IO ()) -> OwtClient -> IO ()
owtStreamAt path arg onChunk c =
  call (methodName @m) Nothing path (toJSON arg) [] c (chunks onChunk)

-- | 'owtAt' for server-sent events, as 'owtEvents'.
owtEventsAt
  :: forall m a. (OwtMethod m, ToJSON a)
  => String -> a -> (SseEvent -> IO ()) -> OwtClient -> IO ()
owtEventsAt path arg onEvent c =
  call (methodName @m) Nothing path (toJSON arg) [] c (events onEvent)

-- | 'owt' with binary arguments: each @(name, bytes)@ is a @bytes@ parameter of the adaptor,
-- sent as a file part of a multipart POST beside @arg@ (its other arguments, as JSON), since
-- JSON cannot carry bytes.
owtFiles :: ToJSON a => String -> a -> [(Text, BS.ByteString)] -> OwtClient -> IO BS.ByteString
owtFiles code arg files c = call "POST" (Just code) "" (toJSON arg) files c readBody

-- | 'owtAt' with binary arguments, as 'owtFiles'.
owtFilesAt :: ToJSON a => String -> a -> [(Text, BS.ByteString)] -> OwtClient -> IO BS.ByteString
owtFilesAt path arg files c = call "POST" Nothing path (toJSON arg) files c readBody

-- | 'owtStreamAt' with binary arguments, as 'owtFiles'.
owtStreamFilesAt
  :: ToJSON a
  => String -> a -> [(Text, BS.ByteString)] -> (BS.ByteString -> IO ()) -> OwtClient -> IO ()
owtStreamFilesAt path arg files onChunk c =
  call "POST" Nothing path (toJSON arg) files c (chunks onChunk)

-- | A JSON body decoded.
decodeOwt :: FromJSON r => BS.ByteString -> Either String r
decodeOwt = eitherDecodeStrict'

-- | A JSON result decoded, or an 'OwtError' @bad_result@ thrown.
jsonBody :: FromJSON r => BS.ByteString -> IO r
jsonBody = either (throwIO . badResult) pure . decodeOwt

-- | A text result (owt sends @str@, @int@ and @float@ results as text).
textBody :: BS.ByteString -> IO Text
textBody = pure . TE.decodeUtf8With TE.lenientDecode

-- | A Python @bool@ result: @True@ or @False@.
boolBody :: BS.ByteString -> IO Bool
boolBody = \case
  "True" -> pure True
  "False" -> pure False
  other -> throwIO (badResult ("not True or False: " <> show other))

-- | A text result read as a JSON string (an enum's 'FromJSON' turns @cat@ into @Cat@).
stringBody :: FromJSON r => BS.ByteString -> IO r
stringBody body = textBody body >>= jsonBody . BL.toStrict . encode . String

-- | A result that is nothing (@None@).
unitBody :: BS.ByteString -> IO ()
unitBody _ = pure ()

-- | A result that may be @None@ (no body at all), read by @reader@ when it is not.
maybeBody :: (BS.ByteString -> IO r) -> BS.ByteString -> IO (Maybe r)
maybeBody reader body
  | BS.null body = pure Nothing
  | otherwise = Just <$> reader body

-- | An event's data decoded as JSON.
sseJSON :: FromJSON r => SseEvent -> Either String r
sseJSON = eitherDecodeStrict' . sseData

-- | Write a result to standard output as it is (bytes, no line break added).
putBS :: BS.ByteString -> IO ()
putBS = BS.putStr

-- The call ------------------------------------------------------------------------------

-- | Send a call (by hash when the server was sent this code before, again in full when it
-- answers @unknown_code@), throw error responses, and hand a good response to @consume@.
call
  :: BS.ByteString -> Maybe String -> String -> Value -> [(Text, BS.ByteString)] -> OwtClient
  -> (Response BodyReader -> IO r) -> IO r
call method code path arg files c consume = case TE.encodeUtf8 . T.pack <$> code of
  Nothing -> attempt Nothing
  Just source -> do
    let sha = hexSha256 source
    known <- Set.member sha <$> readIORef (clientSent c)
    if known
      then attempt (Just ("code_sha256", TE.decodeUtf8 sha)) `catch` \err ->
        if owtKind err == "unknown_code"
          then forget sha >> sendCode source sha
          else throwIO err
      else sendCode source sha
  where
    attempt field = do
      request <- build c method path field (kwargsOf arg) files
      withResponse request (clientManager c) $ \response -> do
        let status = statusCode (responseStatus response)
        unless (status < 400) $ readBody response >>= throwIO . errorFor status
        consume response
    sendCode source sha = do
      result <- attempt (Just ("code_b64", TE.decodeUtf8 (B64.encode source))) `catch` \err -> do
        -- The server keeps code it got as far as compiling, even when the call failed.
        when (owtStatus err `elem` [422, 424, 500, 502, 504]) (remember sha)
        throwIO (err :: OwtError)
      remember sha
      pure result
    remember sha = atomicModifyIORef' (clientSent c) (\s -> (Set.insert sha s, ()))
    forget sha = atomicModifyIORef' (clientSent c) (\s -> (Set.delete sha s, ()))

-- | A plain value is the single argument @__last__@; an object is the keyword arguments.
kwargsOf :: Value -> Value
kwargsOf = \case
  v@(Object _) -> v
  v -> object ["__last__" .= v]

-- | The request of a call: a query string (GET), a JSON body, or with @files@ a multipart
-- body (text fields beside the file parts; @kwargs@ holds the other arguments as JSON).
build
  :: OwtClient -> BS.ByteString -> String -> Maybe (Text, Text) -> Value
  -> [(Text, BS.ByteString)] -> IO Request
build c method path code kwargs files
  | null files = pure (clientAuth c base {H.method = method, H.path = fullPath})
  | otherwise = clientAuth c <$> formDataBody parts base0 {H.path = fullPath}
  where
    parts =
      [partBS k (queryText v) | (k, v) <- codeFields ++ extra ++ [("kwargs", kwargs)]]
        ++ [partFileRequestBody k (T.unpack k) (RequestBodyBS v) | (k, v) <- files]
    base0 = clientRequest c
    fullPath
      | null path = path0
      | take 1 path == "/" = BC.pack path
      | otherwise = BC.dropWhileEnd (== '/') path0 <> "/" <> BC.pack (dropWhile (== '/') path)
    path0 = if BS.null (H.path base0) then "/" else H.path base0
    codeFields = maybe [] (\(k, v) -> [(k, String v)]) code
    extra = clientFields c
    base
      | method == "GET" =
          setQueryString
            [ (TE.encodeUtf8 k, Just (queryText v))
            | (k, v) <- codeFields ++ [("kwargs_b64", String (b64 (BL.toStrict (encode kwargs))))] ++ extra
            ]
            base0
      | otherwise =
          base0
            { requestBody = RequestBodyLBS (encode (object (pairs ++ ["kwargs" .= kwargs])))
            , requestHeaders = (hContentType, "application/json") : requestHeaders base0
            }
      where
        pairs = [Key.fromText k .= v | (k, v) <- codeFields ++ extra]
    b64 = TE.decodeUtf8 . B64.encode
    queryText = \case
      String s -> TE.encodeUtf8 s
      v -> BL.toStrict (encode v)

-- Bodies ---------------------------------------------------------------------------------

readBody :: Response BodyReader -> IO BS.ByteString
readBody response = BS.concat <$> brConsume (responseBody response) `catch` broken response

chunks :: (BS.ByteString -> IO ()) -> Response BodyReader -> IO ()
chunks onChunk response = loop `catch` broken response
  where
    loop = do
      chunk <- brRead (responseBody response)
      unless (BS.null chunk) (onChunk chunk >> loop)

-- | Server-sent events, parsed line by line across chunks. owt's @sse()@ ends a stream with
-- @id: [DONE]@ / @data: [DONE]@; an item that is the text "[DONE]" has an id of its own
-- (@id: 7@ / @data: [DONE]@) and is data like any other, so the @[DONE]@ id ends the stream
-- (or, in a stream without ids, @data: [DONE]@).
events :: (SseEvent -> IO ()) -> Response BodyReader -> IO ()
events onEvent response = loop "" [] `catch` broken response
  where
    loop :: BS.ByteString -> [BS.ByteString] -> IO ()
    loop pending fields = do
      chunk <- brRead (responseBody response)
      if BS.null chunk
        then unless (null fields) (dispatch fields >> pure ())
        else lines' (pending <> chunk) fields
    lines' buffer fields = case BC.elemIndex '\n' buffer of
      Nothing -> loop buffer fields
      Just i -> do
        let line = BC.dropWhileEnd (== '\r') (BS.take i buffer)
            rest = BS.drop (i + 1) buffer
        if BS.null line
          then do
            done <- dispatch fields
            unless done (lines' rest [])
          else lines' rest (fields ++ [line])
    dispatch :: [BS.ByteString] -> IO Bool
    dispatch [] = pure False
    dispatch fields = do
      let field key = [dropSpace v | f <- fields, let (k, v) = BC.break (== ':') f, k == key]
          dropSpace v = let v' = BS.drop 1 v in if BC.take 1 v' == " " then BS.drop 1 v' else v'
          datas = BS.intercalate "\n" (field "data")
          name = case field "event" of
            [] -> "message"
            names -> TE.decodeUtf8With TE.lenientDecode (last names)
          ident = TE.decodeUtf8With TE.lenientDecode . last <$> nonEmpty (field "id")
          nonEmpty xs = if null xs then Nothing else Just xs
      case () of
        _
          | name == "error" -> throwIO (errorFor (statusCode (responseStatus response)) datas)
          | ident == Just "[DONE]" || (ident == Nothing && datas == "[DONE]") -> pure True
          | null (field "data") -> pure False -- (comments alone): no event
          | otherwise -> onEvent (SseEvent name datas ident) >> pure False

-- Errors ---------------------------------------------------------------------------------

errorFor :: Int -> BS.ByteString -> OwtError
errorFor status body = case eitherDecodeStrict' body of
  Right payload@(Object o)
    | Just (String kind) <- KeyMap.lookup "error" o ->
        OwtError status kind (message o) payload
  _ -> OwtError status "http_error" text (object ["error" .= ("http_error" :: Text), "message" .= text])
  where
    text = T.take 2000 (TE.decodeUtf8With TE.lenientDecode body)
    message o = case KeyMap.lookup "message" o of
      Just (String m) -> m
      _ -> ""

badResult :: String -> OwtError
badResult why = OwtError 200 "bad_result" message (object ["error" .= ("bad_result" :: Text), "message" .= message])
  where
    message = "the result is not the JSON expected: " <> T.pack why

-- | A body that broke off (the server ends a failed stream without its last chunk).
broken :: Response BodyReader -> HttpException -> IO a
broken response exc = throwIO (OwtError status "broken_stream" message payload)
  where
    status = statusCode (responseStatus response)
    message = "the response ended early, so the call failed mid-stream (see the server's log): " <> T.pack (show exc)
    payload = object ["error" .= ("broken_stream" :: Text), "message" .= message]

hexSha256 :: BS.ByteString -> BS.ByteString
hexSha256 = BS.concatMap hex . SHA256.hash
  where
    hex w = BC.pack [digits !! fromIntegral (w `div` 16), digits !! fromIntegral (w `mod` 16)]
    digits = "0123456789abcdef"
