-- A typed call of the generate endpoint, from the module `owt codegen` writes. From this folder:
--   owt codegen --lang haskell --out Endpoints.hs http://127.0.0.1:9876
--   runghc -i../../clients/haskell/src Main.hs
import qualified Data.ByteString as BS
import Endpoints (Animal (..), generate)
import Owt (mkOwtClient)

main :: IO ()
main = do
  client <- mkOwtClient "http://127.0.0.1:9876"
  generate client Cat >>= BS.writeFile "cat.pbm"
