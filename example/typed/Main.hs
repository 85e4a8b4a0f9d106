-- A typed call of the generate endpoint, from the module `owt codegen` writes. From this folder:
--   owt codegen --lang haskell --out Endpoints.hs http://127.0.0.1:9876
--   runghc -i../../clients/haskell/src Main.hs
-- (OWT_URL=http://127.0.0.1:PORT for a server on another port.)
import qualified Data.ByteString as BS
import Data.Maybe (fromMaybe)
import Endpoints (Animal (..), generate)
import Owt (mkOwtClient)
import System.Environment (lookupEnv)

main :: IO ()
main = do
  url <- fromMaybe "http://127.0.0.1:9876" <$> lookupEnv "OWT_URL"
  client <- mkOwtClient url
  generate client Cat >>= BS.writeFile "cat.pbm"
