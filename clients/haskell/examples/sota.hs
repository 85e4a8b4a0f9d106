{-# LANGUAGE TypeApplications #-}
-- The state of the art from Haskell: `make run` (it serves example/lib), then from the
-- repository root:  runghc -iclients/haskell/src clients/haskell/examples/sota.hs
-- OWT_URL=http://127.0.0.1:PORT names another server; OWT_TOKEN a token it wants (--token).
import Control.Exception (catch)
import qualified Data.ByteString.Char8 as BC
import Data.Maybe (fromMaybe)
import qualified Data.Text as T
import Network.HTTP.Client (HttpException (..))
import Owt
import System.Environment (lookupEnv)
import System.Exit (die)

main :: IO ()
main = do
  url <- fromMaybe "http://localhost:9876" <$> lookupEnv "OWT_URL"
  token <- maybe "" (takeWhile (/= ',')) <$> lookupEnv "OWT_TOKEN"
  let auth = if null token then id else withToken (BC.pack token)
  client <- auth <$> mkOwtClient (url <> "/owt")
  sota client `catch` (die . explain url) `catch` (die . unreachable url)

sota :: OwtClient -> IO ()
sota client = owt @POST "f(sota.hard_task)" "solve AGI" client >>= putBS

-- | What went wrong, and what to do about it.
explain :: String -> OwtError -> String
explain url e
  | T.pack "name 'sota' is not defined" `T.isInfixOf` owtMessage e =
      "the owt at " <> url <> " does not serve example/lib: start it with --lib example/lib "
        <> "(make run does)"
  | owtStatus e == 401 = "the owt at " <> url <> " wants a token: set OWT_TOKEN"
  | otherwise =
      "owt answered " <> show (owtStatus e) <> " " <> T.unpack (owtKind e) <> ": "
        <> T.unpack (owtMessage e)

unreachable :: String -> HttpException -> String
unreachable url e =
  "no owt answered at " <> url <> " (" <> why e <> "): start one with make run, or point "
    <> "OWT_URL at yours (OWT_URL=http://127.0.0.1:PORT)"
  where
    why (HttpExceptionRequest _ content) = show content
    why other = show other
