-- A typed call of the generate endpoint, from the module `owt codegen` writes. From this folder:
--   owt codegen --lang haskell --out Endpoints.hs http://127.0.0.1:9876
--   runghc -i../../clients/haskell/src Main.hs
-- (OWT_URL=http://127.0.0.1:PORT for a server on another port; OWT_TOKEN for one started
-- with --token, which `owt codegen --token` needs too.)
import qualified Data.ByteString as BS
import qualified Data.ByteString.Char8 as BC
import Data.Maybe (fromMaybe)
import Endpoints (Animal (..), generate)
import Owt (mkOwtClient, withToken)
import System.Environment (lookupEnv)

main :: IO ()
main = do
  url <- fromMaybe "http://127.0.0.1:9876" <$> lookupEnv "OWT_URL"
  token <- maybe "" (takeWhile (/= ',')) <$> lookupEnv "OWT_TOKEN"
  client <- (if null token then id else withToken (BC.pack token)) <$> mkOwtClient url
  generate client Cat >>= BS.writeFile "cat.pbm"
