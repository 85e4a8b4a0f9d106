{-# LANGUAGE TypeApplications #-}
-- The state of the art from Haskell: `make run` (it serves example/lib), then from the
-- repository root:  runghc -iclients/haskell/src clients/haskell/examples/sota.hs
import Owt

main :: IO ()
main = mkOwtClient "http://localhost:9876/owt" >>= owt @POST "f(sota.hard_task)" "solve AGI" >>= putBS
